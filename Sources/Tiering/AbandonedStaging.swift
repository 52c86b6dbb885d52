import Foundation
import Glibc

/// A dead writer's staging folder, locked by us while recovery works on it.
public struct AbandonedStaging: Sendable {
    public let folder: URL
    public let files: [URL]
    let lockDescriptor: Int32

    /// Unlocks the folder, removing it if recovery emptied it.
    public func release() {
        if let left = try? FileManager.default.contentsOfDirectory(atPath: folder.path), left == [StagingSession.lockName] {
            try? FileManager.default.removeItem(at: folder)
        }
        close(lockDescriptor)
    }
}
