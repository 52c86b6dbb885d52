import Foundation
import Tiering

/// Creates the staging session once, when first needed (read-only commands never make one).
final class LazyStaging: @unchecked Sendable {
    private let lock = NSLock()
    private var session: StagingSession?
    var tier: TierDirectory?

    func get() throws -> StagingSession {
        lock.lock()
        defer { lock.unlock() }
        if let session { return session }
        let made = try StagingSession(tier: tier!)
        session = made
        return made
    }
}
