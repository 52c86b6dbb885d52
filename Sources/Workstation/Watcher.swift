import Foundation

/// Listens to the server's events (`/api/v1/events`, server-sent events) until cancelled.
public struct Watcher: Sendable {
    let client: StrataClient

    public init(client: StrataClient) {
        self.client = client
    }

    public func listen(_ onStudy: (StudyAnnouncement) async throws -> Void) async throws {
        var pending = ""
        var event = ""
        var data = ""
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        try await client.stream(.GET, "/api/v1/events", headers: [("Accept", "text/event-stream")]) { piece in
            pending += String(decoding: Array(buffer: piece), as: UTF8.self)
            while let newline = pending.firstIndex(of: "\n") {
                let line = String(pending[..<newline])
                pending = String(pending[pending.index(after: newline)...])
                if line.isEmpty {
                    if event == "study", let announcement = try? decoder.decode(StudyAnnouncement.self, from: Data(data.utf8)) {
                        try await onStudy(announcement)
                    }
                    (event, data) = ("", "")
                } else if line.hasPrefix("event:") {
                    event = line.dropFirst(6).trimmingCharacters(in: .whitespaces)
                } else if line.hasPrefix("data:") {
                    data += line.dropFirst(5).trimmingCharacters(in: .whitespaces)
                }
            }
        }
    }
}
