import Foundation
import Hummingbird

/// `/api/v1/studies/{study}/status`: a study's diagnosis status and its history; reading doctors move a study forward
/// through the workflow, admins may also move it back, with a reason. Every change is kept with who and when.
struct StatusController {
    let index: ImageIndex
    let gate: AccessGate
    let events: EventHub
    /// Runs blocking work (file and index reads) off the event loops.
    let blocking: BlockingPool

    struct Change: Decodable {
        var status: Int
        var reason: String?
    }

    struct Answer: Encodable {
        var study: String
        var status: DiagnosisStatus
        var name: String
        var history: [StatusChange]
    }

    func addRoutes(to api: RouterGroup<StrataContext>) {
        api.get("studies/:study/status") { _, context in try await get(study: context.parameters.require("study"), caller: try context.caller) }
        api.group().only(.reading, .admin, refusal: "only reading doctors and admins change a study's diagnosis status")
            .put("studies/:study/status") { request, context in try await set(request, study: context.parameters.require("study"), context: context) }
    }

    func set(_ request: Request, study: String, context: StrataContext) async throws -> Response {
        let user = try context.user
        let change = try await request.decode(as: Change.self, context: context)
        guard let target = DiagnosisStatus(rawValue: change.status) else {
            throw HTTPError(.badRequest, message: "status is 1 (unread) to 5 (report drafted)")
        }
        let index = self.index
        _ = try await blocking.run {
            try index.changeStatus(studyInstanceUID: study, to: target, by: user.name, reason: change.reason,
                                   allowBackwards: user.role == .admin, now: Date().timeIntervalSince1970)
        }
        events.studyChanged(study, reason: "status changed to \(target.rawValue) (\(target.name))")
        return try await get(study: study, caller: user.caller)
    }

    /// The status shows the study exists: it is answered only to a caller searches would show the study to.
    func get(study: String, caller: Caller) async throws -> Response {
        let index = self.index, gate = self.gate
        let answer = try await blocking.run { () throws -> Answer? in
            guard let status = try gate.status(of: study, for: caller) else { return nil }
            return Answer(study: study, status: status, name: status.name, history: try index.statusHistory(studyInstanceUID: study))
        }
        guard let answer else { throw HTTPError(.notFound, message: "no study \(study)") }
        return try HTTPService.json(answer)
    }
}
