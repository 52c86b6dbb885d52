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
        let keys = request.uri.queryParameters.map { String($0.key) }.sorted()
        var entry: [String: Any] = [
            "time": ISO8601DateFormatter().string(from: Date()), "client": context.clientAddress,
            "method": request.method.rawValue, "path": request.uri.path, "status": status,
            "durationMs": (milliseconds * 10).rounded() / 10,
        ]
        if !keys.isEmpty { entry["queryKeys"] = keys }
        if let user = context.identity.user {
            entry["user"] = user.name
            entry["role"] = user.role.rawValue
        }
        if let bytes { entry["bytes"] = bytes }
        guard let data = try? JSONSerialization.data(withJSONObject: entry, options: [.sortedKeys]) else { return }
        file.append(data + Data("\n".utf8))
    }
}

/// The log file, appended to line by line from any request.
final class AccessLogFile: Sendable {
    private let handle: Mutex<FileHandle?>

    init(url: URL) {
        if !FileManager.default.fileExists(atPath: url.path) { FileManager.default.createFile(atPath: url.path, contents: nil) }
        let file = try? FileHandle(forWritingTo: url)
        _ = try? file?.seekToEnd()
        handle = Mutex(file)
    }

    func append(_ line: Data) {
        handle.withLock { $0?.write(line) }
    }
}
