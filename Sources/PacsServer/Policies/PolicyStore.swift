import Foundation
import Logging
import Synchronization

/// The policies in force, swapped atomically when the folder changes (`PolicyWatcher`: SIGHUP, or a file edited on disk).
/// A broken edit is logged with every problem and the previous policies stay in force.
public final class PolicyStore: Sendable {
    public let folder: URL
    private let state: Mutex<(policies: Policies, signature: [String])>
    private let logger: Logger

    public init(folder: URL, logger: Logger = Logger(label: "strata.policies")) throws(PolicyErrors) {
        self.folder = folder
        self.logger = logger
        let policies = try Policies.load(from: folder).get()
        state = Mutex((policies, Self.signature(of: folder)))
    }

    public var current: Policies { state.withLock { $0.policies } }

    /// Re-reads the folder; returns the problems if the new files do not validate (the old policies stay).
    @discardableResult
    public func reload() -> PolicyErrors? {
        let signature = Self.signature(of: folder)
        switch Policies.load(from: folder) {
        case let .success(policies):
            let changed = state.withLock { current -> Bool in
                defer { current = (policies, signature) }
                return current.policies != policies
            }
            if changed { logger.info("policies reloaded", metadata: ["folder": "\(folder.path)"]) }
            return nil
        case let .failure(errors):
            state.withLock { $0.signature = signature }
            logger.error("policy change rejected; the previous policies stay in force:\n\(errors)")
            return errors
        }
    }

    /// Reloads when a policy file's size or modification time changed since the last look.
    public func reloadIfChanged() {
        let seen = state.withLock { $0.signature }
        if Self.signature(of: folder) != seen { reload() }
    }

    private static func signature(of folder: URL) -> [String] {
        Policies.fileNames.map { name in
            let attributes = try? FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent(name).path)
            let modified = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
            return "\(name):\(attributes?[.size] ?? 0):\(modified)"
        }
    }
}
