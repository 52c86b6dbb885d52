import AsyncHTTPClient
import DICOM
import Foundation
import NIOCore
import NIOHTTP1

/// The workstation's connection to a Strata server: authenticates once (a bearer token from `/auth/token`,
/// renewed when it expires), keeps connections alive, and reads bodies through the rate limiter.
public final class StrataClient: Sendable {
    public let settings: ClientSettings
    let http: HTTPClient
    let limiter: RateLimiter?
    private let token = TokenHolder()
    /// Bytes of bodies received, for the progress line and the reports.
    public let received = ByteCounter()

    public init(settings: ClientSettings, limiter: RateLimiter? = nil) {
        self.settings = settings
        self.limiter = limiter
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(timeout: .init(connect: .seconds(10), read: .seconds(120))))
    }

    public func shutdown() async {
        try? await http.shutdown()
    }

    func url(_ path: String) -> String {
        var base = settings.url.absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        return base + path
    }

    private var basic: String? {
        guard let user = settings.user, let password = settings.password else { return nil }
        return "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
    }

    private func authorization() async throws -> String? {
        if let bearer = token.current { return "Bearer \(bearer)" }
        guard let basic else { return nil }
        var request = HTTPClientRequest(url: url("/auth/token"))
        request.method = .POST
        request.headers.add(name: "Authorization", value: basic)
        let response = try await http.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 1 << 16)
        guard response.status == .ok,
              let object = try? JSONSerialization.jsonObject(with: Data(Array(buffer: body))) as? [String: Any],
              let value = object["access_token"] as? String, let lifetime = object["expires_in"] as? Double else {
            throw ClientError.http(status: Int(response.status.code), message: Self.message(Array(buffer: body)))
        }
        token.set(value, lifetime: lifetime)
        return "Bearer \(value)"
    }

    /// Sends a request; `onBody` gets the body in pieces as they arrive (after the rate limiter).
    /// Retries once with a fresh token when the one held has expired.
    public func stream(_ method: HTTPMethod = .GET, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
                       onHead: (Int, HTTPHeaders) throws -> Void = { _, _ in },
                       onBody: (ByteBuffer) async throws -> Void) async throws {
        for attempt in 0..<2 {
            var request = HTTPClientRequest(url: url(path))
            request.method = method
            if let authorization = try await authorization() { request.headers.add(name: "Authorization", value: authorization) }
            for (name, value) in headers { request.headers.add(name: name, value: value) }
            if let body {
                request.body = .bytes(ByteBuffer(bytes: body))
                request.headers.add(name: "Content-Type", value: "application/json")
            }
            let response = try await http.execute(request, timeout: .seconds(600))
            let status = Int(response.status.code)
            if status == 401, attempt == 0, token.current != nil {
                token.clear()
                _ = try? await response.body.collect(upTo: 1 << 16)
                continue
            }
            guard (200..<300).contains(status) || status == 304 else {
                let text = try await response.body.collect(upTo: 1 << 20)
                throw ClientError.http(status: status, message: Self.message(Array(buffer: text)))
            }
            try onHead(status, response.headers)
            for try await piece in response.body {
                await limiter?.consume(piece.readableBytes)
                received.add(piece.readableBytes)
                try await onBody(piece)
            }
            return
        }
    }

    /// A request read whole. JSON answers come gzipped (the bytes on the wire are what the counter counts).
    public func request(_ method: HTTPMethod = .GET, _ path: String, headers: [(String, String)] = [], body: [UInt8]? = nil) async throws -> ClientResponse {
        var response = ClientResponse(status: 0, headers: [:], body: [])
        try await stream(method, path, headers: headers + [("Accept-Encoding", "gzip")], body: body,
                         onHead: { response.status = $0; response.headers = $1 }) { piece in
            response.body += Array(buffer: piece)
        }
        if response.header("Content-Encoding")?.lowercased() == "gzip" {
            do {
                response.body = try Deflate.gunzip(response.body)
            } catch {
                throw ClientError.protocolError("\(path): the gzipped answer does not inflate: \(error)")
            }
        }
        return response
    }

    /// A JSON answer decoded (snake_case keys).
    public func json<T: Decodable>(_ type: T.Type, _ method: HTTPMethod = .GET, _ path: String, body: (any Encodable)? = nil) async throws -> T {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let bytes = try body.map { Array(try encoder.encode($0)) }
        let response = try await request(method, path, headers: [("Accept", "application/json")], body: bytes)
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return try decoder.decode(T.self, from: Data(response.body))
        } catch {
            throw ClientError.protocolError("unexpected answer from \(path): \(error)")
        }
    }

    /// The server's `{"error":{"message": ...}}`, or the body's text.
    static func message(_ body: [UInt8]) -> String {
        if let object = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any],
           let error = object["error"] as? [String: Any], let message = error["message"] as? String {
            return message
        }
        return String(decoding: body.prefix(500), as: UTF8.self)
    }
}
