import Foundation

/// Paths of archived files read, waiting to be recalled.
final class RecallQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var paths: Set<String> = []

    /// True when the path is new to the queue.
    func add(_ path: String) -> Bool { lock.withLock { paths.insert(path).inserted } }
    func take() -> [String] { lock.withLock { defer { paths.removeAll() }; return Array(paths) } }
}
