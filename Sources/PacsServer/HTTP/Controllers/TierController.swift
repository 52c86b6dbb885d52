import Foundation
import Hummingbird
import Tiering

/// `/api/v1/admin/tier`: the storage figures, a pass of the mover on demand, recalls and prefetches (the admin group
/// lets only admins in).
struct TierController {
    let tiering: TieringService
    /// The server's tiering loop, told when a prefetch is scheduled.
    let loop: TieringLoop
    /// Runs blocking work (file and index reads) off the event loops.
    let blocking: BlockingPool

    func addRoutes(to admin: RouterGroup<StrataContext>) {
        admin.get("tier") { _, _ in try await figures() }
        admin.post("tier/run") { request, context in try await run(request, context: context) }
        admin.post("tier/recall") { request, context in try await recall(request, context: context) }
        admin.post("tier/prefetch") { request, context in try await schedulePrefetch(request, context: context) }
        admin.get("tier/prefetch") { _, _ in try await prefetches() }
    }

    struct RunBody: Decodable { var dryRun: Bool?; var now: String? }
    struct RecallBody: Decodable { var study: String }
    struct PrefetchBody: Decodable { var patientId: String; var scheduledAt: String }

    struct Step: Encodable { var kind, sopInstanceUID, version, variant, source, destination, reason: String; var size: Int64 }
    struct RunAnswer: Encodable {
        var dryRun: Bool
        var steps: [Step]
        var warnings: [String]
        var moved, copied, dropped, recalled: Int
        var failures: [String]
        var recovered: [String]
        var prefetched: [String]
        var rotten: [String]
    }

    struct RecallAnswer: Encodable { var recalled: Int; var bytes: Int64; var seconds: Double; var failures: [String] }
    struct PrefetchAnswer: Encodable { var patientId: String; var scheduledAt: String; var requestedBy: String; var done: String? }

    static func time(_ text: String) throws -> Double {
        guard let date = ISO8601DateFormatter().date(from: text) else {
            throw HTTPError(.badRequest, message: "\(text) is not an ISO 8601 time such as 2027-01-31T08:00:00Z")
        }
        return date.timeIntervalSince1970
    }

    func figures() async throws -> Response {
        let tiering = self.tiering
        return try HTTPService.json(try await blocking.run { try tiering.figures(now: Date().timeIntervalSince1970) })
    }

    func run(_ request: Request, context: StrataContext) async throws -> Response {
        let body = try await request.decode(as: RunBody.self, context: context)
        let now = try body.now.map(Self.time) ?? Date().timeIntervalSince1970
        let dryRun = body.dryRun ?? false
        let tiering = self.tiering
        let result = try await blocking.run { try tiering.pass(now: now, dryRun: dryRun) }
        let report = result.report
        return try HTTPService.json(RunAnswer(
            dryRun: dryRun,
            steps: result.plan.transfers.map {
                Step(kind: $0.kind.rawValue, sopInstanceUID: $0.object.sopInstanceUID, version: $0.object.key.version, variant: $0.object.key.variant,
                     source: $0.source, destination: $0.destination, reason: $0.reason, size: $0.object.size)
            },
            warnings: result.plan.warnings, moved: report.moved, copied: report.copied, dropped: report.dropped, recalled: report.recalled,
            failures: report.failures, recovered: report.recovered, prefetched: result.prefetched, rotten: result.rotten))
    }

    func recall(_ request: Request, context: StrataContext) async throws -> Response {
        let user = try context.user
        let body = try await request.decode(as: RecallBody.self, context: context)
        let tiering = self.tiering
        let report = try await blocking.run {
            try tiering.recall(studies: [body.study], now: Date().timeIntervalSince1970, reason: "recalled by \(user.name) over HTTP")
        }
        return try HTTPService.json(RecallAnswer(recalled: report.recalled, bytes: report.bytes, seconds: report.seconds, failures: report.failures))
    }

    func schedulePrefetch(_ request: Request, context: StrataContext) async throws -> Response {
        let user = try context.user
        let body = try await request.decode(as: PrefetchBody.self, context: context)
        let at = try Self.time(body.scheduledAt)
        let tiering = self.tiering
        let scheduled = try await blocking.run { try tiering.schedulePrefetch(patientID: body.patientId, at: at, by: user.name) }
        loop.runSoon()
        return try HTTPService.json(Self.answer(scheduled), status: .created)
    }

    func prefetches() async throws -> Response {
        let index = tiering.store.index
        return try HTTPService.json(try await blocking.run { try index.prefetches(pendingOnly: false) }.map(Self.answer))
    }

    static func answer(_ prefetch: Prefetch) -> PrefetchAnswer {
        PrefetchAnswer(patientId: prefetch.patientID, scheduledAt: TierPlanner.date(prefetch.scheduledAt), requestedBy: prefetch.requestedBy,
                       done: prefetch.doneAt.map(TierPlanner.date))
    }
}
