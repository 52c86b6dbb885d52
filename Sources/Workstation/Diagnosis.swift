import Foundation

/// The diagnosis API as reading doctors use it from the workstation.
public struct Diagnosis: Sendable {
    let client: StrataClient

    public init(client: StrataClient) {
        self.client = client
    }

    /// The study's status and history, as the server answers (JSON text).
    public func status(_ study: String) async throws -> [UInt8] {
        try await client.request(.GET, "/api/v1/studies/\(study)/status").body
    }

    public func setStatus(_ study: String, to status: Int, reason: String?) async throws -> [UInt8] {
        var body: [String: Any] = ["status": status]
        if let reason { body["reason"] = reason }
        return try await client.request(.PUT, "/api/v1/studies/\(study)/status", body: try Self.encode(body)).body
    }

    public func diagnostic(_ study: String, history: Bool) async throws -> [UInt8] {
        try await client.request(.GET, "/api/v1/studies/\(study)/diagnostic\(history ? "?history=true" : "")").body
    }

    public func addNote(_ study: String, text: String) async throws -> [UInt8] {
        try await client.request(.POST, "/api/v1/studies/\(study)/notes", body: try Self.encode(["text": text])).body
    }

    /// Shapes as JSON objects (`{"type": "ellipse", "center": [x, y], "radii": [rx, ry]}` ...).
    public func annotate(_ study: String, instance: String, frame: Int?, shapes: [[String: Any]]) async throws -> [UInt8] {
        var body: [String: Any] = ["instance": instance, "shapes": shapes]
        if let frame { body["frame"] = frame }
        return try await client.request(.POST, "/api/v1/studies/\(study)/annotations", body: try Self.encode(body)).body
    }

    public func report(_ study: String, text: String) async throws -> [UInt8] {
        try await client.request(.PUT, "/api/v1/studies/\(study)/report", body: try Self.encode(["text": text])).body
    }

    static func encode(_ object: [String: Any]) throws -> [UInt8] {
        Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
    }

    /// Shapes from the command line: `point:X,Y`, `line:X1,Y1,X2,Y2[,...]`, `ellipse:CX,CY,RX,RY`, `text:X,Y,words`.
    public static func shape(_ text: String) -> [String: Any]? {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let kind = String(text[..<colon])
        let rest = text[text.index(after: colon)...]
        if kind == "text" {
            let parts = rest.split(separator: ",", maxSplits: 2)
            guard parts.count == 3, let x = Double(parts[0]), let y = Double(parts[1]) else { return nil }
            return ["type": "text", "x": x, "y": y, "text": String(parts[2])]
        }
        let numbers = rest.split(separator: ",").compactMap { Double($0) }
        switch kind {
        case "point" where numbers.count == 2: return ["type": "point", "x": numbers[0], "y": numbers[1]]
        case "line" where numbers.count >= 4 && numbers.count % 2 == 0:
            return ["type": "line", "points": stride(from: 0, to: numbers.count, by: 2).map { [numbers[$0], numbers[$0 + 1]] }]
        case "ellipse" where numbers.count == 4: return ["type": "ellipse", "center": [numbers[0], numbers[1]], "radii": [numbers[2], numbers[3]]]
        default: return nil
        }
    }
}
