import Tiering

/// The storage figures an admin watches (`pacs tier status`, `GET /api/v1/admin/tier`): what each tier holds
/// per version, how full the fast tier is, what would move now, and what the mover, recalls and the scrub did.
public struct TierFigures: Codable, Sendable {
    public struct Holding: Codable, Sendable {
        public var tier: String
        public var version: String
        public var objects: Int
        public var bytes: Int64
    }

    public struct Fill: Codable, Sendable {
        public var used: Int64
        public var capacity: Int64
        public var percent: Double
        public var highWatermark: Double
        public var lowWatermark: Double
    }

    public struct Pending: Codable, Sendable {
        public var moves: Int
        public var copies: Int
        public var drops: Int
        public var bytes: Int64
    }

    public struct Activity: Codable, Sendable {
        /// Objects that left the fast tier (moved or dropped) in the last hour and the last day.
        public var movedLastHour: Int
        public var movedLastDay: Int
        public var bytesMovedLastDay: Int64
        public var recallsLastDay: Int
        public var recallSecondsAverage: Double?
        public var recallSecondsMax: Double?
        public var scrubbedLastDay: Int
        public var bitRotFound: Int
        public var failuresLastDay: Int
    }

    public var holdings: [Holding]
    public var fastFill: Fill?
    public var pending: Pending
    public var warnings: [String]
    public var activity: Activity
    /// Journaled steps not finished (a mover is working, or a crash left them for the next pass).
    public var inFlight: Int
    public var prefetchesPending: Int
    public var lastProblems: [String]
}

extension TieringService {
    public func figures(now: Double) throws -> TierFigures {
        let index = store.index
        let objects = try index.tieredObjects(studyInstanceUIDs: nil, patientID: nil)
        var holdings: [String: TierFigures.Holding] = [:]
        for object in objects {
            for tier in object.copies.keys {
                let key = "\(tier) \(object.key.version)"
                holdings[key, default: .init(tier: tier, version: object.key.version, objects: 0, bytes: 0)].objects += 1
                holdings[key]!.bytes += object.size
            }
        }
        let usage = try usage()
        let plan = TierPlanner(policy: policy).plan(objects, now: now, usage: usage)
        let events = try index.events(since: now - 86_400)
        let left = events.filter { $0.kind == .moved || $0.kind == .dropped }
        let recalls = events.filter { $0.kind == .recalled }
        let problems = try index.events(since: 0).filter { [.bitrot, .failed, .stuck].contains($0.kind) }
        return TierFigures(
            holdings: holdings.values.sorted { ($0.tier, $0.version) < ($1.tier, $1.version) },
            fastFill: usage.map { .init(used: $0.used, capacity: $0.capacity, percent: ($0.percent * 10).rounded() / 10,
                                        highWatermark: policy.highWatermark, lowWatermark: policy.lowWatermark) },
            pending: .init(moves: plan.transfers.filter { $0.kind == .move }.count, copies: plan.transfers.filter { $0.kind == .copy }.count,
                           drops: plan.transfers.filter { $0.kind == .drop }.count,
                           bytes: plan.transfers.filter { $0.kind != .drop }.reduce(0) { $0 + $1.object.size }),
            warnings: plan.warnings,
            activity: .init(movedLastHour: left.filter { $0.at >= now - 3_600 }.count, movedLastDay: left.count,
                            bytesMovedLastDay: left.reduce(0) { $0 + $1.bytes }, recallsLastDay: recalls.count,
                            recallSecondsAverage: recalls.isEmpty ? nil : recalls.reduce(0) { $0 + $1.seconds } / Double(recalls.count),
                            recallSecondsMax: recalls.map(\.seconds).max(), scrubbedLastDay: events.filter { $0.kind == .scrubbed }.count,
                            bitRotFound: problems.filter { $0.kind == .bitrot }.count,
                            failuresLastDay: events.filter { $0.kind == .failed }.count),
            inFlight: try index.transfers().count,
            prefetchesPending: try index.prefetches(pendingOnly: true).count,
            lastProblems: problems.suffix(10).map { "\(TierPlanner.date($0.at)) \($0.kind.rawValue): \($0.detail)" })
    }
}
