import Foundation

/// Hands the paths of archived files that were read to whoever listens (the tiering service's recall).
public final class ArchiveReadObserver: @unchecked Sendable {
    private let lock = NSLock()
    private var listener: (@Sendable (String) -> Void)?

    public func listen(_ listener: @escaping @Sendable (String) -> Void) {
        lock.withLock { self.listener = listener }
    }

    func notify(_ path: String) {
        lock.withLock { listener }?(path)
    }
}
