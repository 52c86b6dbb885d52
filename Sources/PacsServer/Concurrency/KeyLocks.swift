import Foundation

/// Serialises work on the same keys (SOP Instance UIDs): a caller waits only while another holds one of its own
/// keys, so two STOW-RS bodies of different instances are stored side by side.
final class KeyLocks: @unchecked Sendable {
    private let condition = NSCondition()
    /// Keys held now (guarded by `condition`).
    private var held = Set<String>()

    /// Holds all `keys` at once while `body` runs (taken together, so two callers cannot deadlock).
    func withLocks(for keys: [String], _ body: () -> Void) {
        let keys = Set(keys)
        condition.lock()
        while !held.isDisjoint(with: keys) { condition.wait() }
        held.formUnion(keys)
        condition.unlock()
        defer {
            condition.lock()
            held.subtract(keys)
            condition.broadcast()
            condition.unlock()
        }
        body()
    }
}
