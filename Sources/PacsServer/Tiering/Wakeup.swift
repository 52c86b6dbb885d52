import Foundation
import Logging
import Tiering

/// Lets the loop sleep until a deadline or until something is signalled.
final class Wakeup: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<Void, Never>?
    private var pending = false
    private var passRequested = false

    func signal(pass: Bool = false) {
        let waiting: CheckedContinuation<Void, Never>? = lock.withLock {
            pending = true
            if pass { passRequested = true }
            defer { continuation = nil }
            return continuation
        }
        waiting?.resume()
    }

    func takePassRequest() -> Bool {
        lock.withLock { defer { passRequested = false }; return passRequested }
    }

    func wait(until deadline: Date) async {
        let timer = Task { [weak self] in
            try? await Task.sleep(for: .seconds(max(0, deadline.timeIntervalSinceNow)))
            self?.signal()
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow: Bool = lock.withLock {
                if pending { pending = false; return true }
                self.continuation = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
        lock.withLock { pending = false }
        timer.cancel()
    }
}
