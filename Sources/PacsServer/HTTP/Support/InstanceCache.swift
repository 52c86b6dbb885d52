import Foundation
import Synchronization

/// Instances looked up a moment ago, for the per-frame requests a viewer makes by the hundred. Only instances
/// whose versions are all made are kept, for a second (a tier move shows within that, and a read racing a move
/// finds the file on the other tier anyway). The study's status is never cached: access is decided on the
/// current one.
final class InstanceCache: Sendable {
    private static let lifetime: UInt64 = 1_000_000_000
    private static let capacity = 20_000
    private let entries = Mutex<[String: (summary: InstanceSummary, until: UInt64)]>([:])

    func instance(_ sopInstanceUID: String) -> InstanceSummary? {
        let now = DispatchTime.now().uptimeNanoseconds
        return entries.withLock { entries in
            guard let entry = entries[sopInstanceUID], entry.until > now else { return nil }
            return entry.summary
        }
    }

    func keep(_ summary: InstanceSummary) {
        let until = DispatchTime.now().uptimeNanoseconds + Self.lifetime
        entries.withLock { entries in
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[summary.sopInstanceUID] = (summary, until)
        }
    }
}
