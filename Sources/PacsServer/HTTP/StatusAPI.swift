import Foundation
import Hummingbird
import NIOCore

/// `/api/v1/studies/{study}/status`: reading doctors move a study forward through the workflow; admins may
/// also move it back, with a reason. Every change is kept with who and when.
struct StatusAPI {
    let store: DataStore
    let events: EventHub

    struct Change: Decodable {
        var status: Int
        var reason: String?
    }

    struct Answer: Encodable {
        var study: String
        var status: Int
        var name: String
        var history: [StatusChange]
    }

    func set(_ request: Request, study: String, context: StrataContext) async throws -> Response {
        let user = try context.user
        guard user.role == .reading || user.role == .admin else {
            throw HTTPError(.forbidden, message: "only reading doctors and admins change a study's diagnosis status")
        }
        let change = try await request.decode(as: Change.self, context: context)
        guard let target = DiagnosisStatus(rawValue: change.status) else {
            throw HTTPError(.badRequest, message: "status is 1 (unread) to 5 (report drafted)")
        }
        let index = store.index
        do {
            _ = try await Blocking.run {
                try index.changeStatus(studyInstanceUID: study, to: target, by: user.name, reason: change.reason,
                                       allowBackwards: user.role == .admin, now: Date().timeIntervalSince1970)
            }
        } catch let error as StatusChangeError {
            switch error {
            case .noSuchStudy: throw HTTPError(.notFound, message: "\(error)")
            case .backwards where user.role != .admin: throw HTTPError(.forbidden, message: "\(error)")
            default: throw HTTPError(.conflict, message: "\(error)")
            }
        }
        events.studyChanged(study, reason: "status changed to \(target.rawValue) (\(target.name))")
        return try await get(study: study)
    }

    func get(study: String) async throws -> Response {
        let index = store.index
        let answer = try await Blocking.run { () throws -> Answer? in
            var query = IndexQuery()
            query.studyInstanceUIDs = [study]
            guard let summary = try index.studies(matching: query).first else { return nil }
            return Answer(study: study, status: summary.status, name: DiagnosisStatus(rawValue: summary.status)?.name ?? "?",
                          history: try index.statusHistory(studyInstanceUID: study))
        }
        guard let answer else { throw HTTPError(.notFound, message: "no study \(study)") }
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try JSONEncoder().encode(answer))))
    }
}
