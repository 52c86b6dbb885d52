import Foundation
import Hummingbird
import Synchronization

/// One JSON line per request in `<data>/access.log`: time, user, role, client, method, path (query values
/// left out: they may carry patient data), status, bytes and duration. Never headers or pixel data.
struct AccessLog: RouterMiddleware {
    typealias Context = StrataContext

    let file: AccessLogFile

    init(url: URL) {
        file = AccessLogFile(url: url)
    }

    func handle(_ request: Request, context: StrataContext, next: (Request, StrataContext) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            write(request, context, status: response.status.code, bytes: response.body.contentLength, since: start)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            write(request, context, status: status, bytes: nil, since: start)
            throw error
        }
    }

    private func write(_ request: Request, _ context: StrataContext, status: Int, bytes: Int?, since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        // Written by hand: this runs for every request, and Foundation's formatters and JSON writer cost
        // more than the rest of a frame request.
        var line = "{\"time\":\"\(Self.timestamp())\",\"client\":\(Self.quote(context.clientAddress)),"
        line += "\"method\":\"\(request.method.rawValue)\",\"path\":\(Self.quote(request.uri.path)),\"status\":\(status),"
        line += "\"duration_ms\":\((milliseconds * 10).rounded() / 10)"
        let keys = request.uri.queryParameters.map { String($0.key) }.sorted()
        if !keys.isEmpty { line += ",\"query_keys\":[" + keys.map(Self.quote).joined(separator: ",") + "]" }
        if let user = context.identity {
            line += ",\"user\":\(Self.quote(user.name)),\"role\":\"\(user.role.rawValue)\""
        }
        if let bytes { line += ",\"bytes\":\(bytes)" }
        file.append(Data((line + "}\n").utf8))
    }

    /// UTC, to the second: `2026-11-22T05:52:26Z` (formatted once a second, however many requests share it).
    private static func timestamp() -> String {
        var now = time(nil)
        if let cached = lastTimestamp.withLock({ $0.second == now ? $0.text : nil }) { return cached }
        var parts = tm()
        gmtime_r(&now, &parts)
        let text = String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday,
                          parts.tm_hour, parts.tm_min, parts.tm_sec)
        lastTimestamp.withLock { $0 = (now, text) }
        return text
    }

    private static let lastTimestamp = Mutex<(second: time_t, text: String)>((0, ""))

    private static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
