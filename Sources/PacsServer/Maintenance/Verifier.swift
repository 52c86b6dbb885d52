import Foundation
import Synchronization
import Tiering

/// Checks that the index and the tiers agree: every recorded file present with its size and SHA-256,
/// no file that no row claims, no step left half done.
public struct Verifier: Sendable {
    public struct Finding: Sendable, Equatable, Codable, CustomStringConvertible {
        public enum Kind: String, Sendable, Codable {
            case missing, corrupt, orphan, unfinished
        }
        public var kind: Kind
        public var tier: String
        public var path: String
        public var detail: String

        public var description: String { "\(kind.rawValue): \(tier)/\(path): \(detail)" }
    }

    public struct Report: Sendable, Codable {
        public var filesChecked: Int
        public var findings: [Finding]
        /// Interrupted steps of writers that died, finished or rolled back on opening.
        public var recovered: [String]
        public var repaired: [String]
        public var isClean: Bool { findings.isEmpty }
    }

    let index: ImageIndex
    let tiers: [TierDirectory]

    public init(index: ImageIndex, tiers: [TierDirectory]) {
        self.index = index
        self.tiers = tiers
    }

    /// Checks everything. Like every command that opens the store, it first finishes or rolls back what
    /// writers that died left half done (reported as `recovered`, not as a fault: that is the crash
    /// protocol working). With `repair` it also quarantines orphans and staged files recovery could not
    /// place; missing or corrupt files are reported, never "repaired" by deleting anything.
    public func run(repair: Bool) throws -> Report {
        var findings: [Finding] = []
        var repaired: [String] = []
        var recovered: [String] = []
        var checked = 0
        for tier in tiers {
            for action in try IngestRecovery(index: index, tier: tier).run() {
                guard case let .unresolved(staged, path) = action else {
                    recovered.append("\(tier.name): \(action)")
                    continue
                }
                if repair {
                    let target = tier.quarantineRoot.appendingPathComponent("unfinished").appendingPathComponent(path)
                    try DurableFile.makeDirectory(target.deletingLastPathComponent())
                    try DurableFile.rename(staged, to: target)
                    repaired.append("\(tier.name): quarantined unfinished \(path)")
                } else {
                    findings.append(Finding(kind: .unfinished, tier: tier.name, path: path,
                                            detail: "\(action); `pacs verify --repair` quarantines it"))
                }
            }
            // The disk is listed before the index is read: a file is renamed into place only after its row
            // is committed, so a live writer cannot make a listed file look unclaimed.
            let onDisk = tier.storedFiles()
            let recorded = try index.storedFiles(tier: tier.name)
            checked += recorded.count
            findings += check(recorded, on: tier)
            let claimed = Set(recorded.map(\.file.path))
            for path in onDisk where !claimed.contains(path) {
                if repair {
                    try tier.quarantine(path)
                    repaired.append("\(tier.name): quarantined orphan \(path)")
                } else {
                    findings.append(Finding(kind: .orphan, tier: tier.name, path: path,
                                            detail: "no index row claims this file; `pacs verify --repair` moves it to .quarantine/"))
                }
            }
        }
        return Report(filesChecked: checked, findings: findings, recovered: recovered, repaired: repaired)
    }

    /// Re-hashes the recorded files on all cores.
    private func check(_ recorded: [IndexedFile], on tier: TierDirectory) -> [Finding] {
        let results = Mutex<[Int: Finding]>([:])
        DispatchQueue.concurrentPerform(iterations: recorded.count) { position in
            let entry = recorded[position]
            let url = tier.url(for: entry.file.path)
            let finding: Finding?
            do {
                let actual = try DurableFile.digest(url)
                if actual.size != entry.file.size {
                    finding = Finding(kind: .corrupt, tier: tier.name, path: entry.file.path,
                                      detail: "instance \(entry.sopInstanceUID): size \(actual.size), index says \(entry.file.size)")
                } else if actual.sha256 != entry.file.sha256 {
                    finding = Finding(kind: .corrupt, tier: tier.name, path: entry.file.path,
                                      detail: "instance \(entry.sopInstanceUID): SHA-256 differs from the index")
                } else {
                    finding = nil
                }
            } catch StoreError.missing(_) where tier.isBeingPublished(entry.file.path) {
                finding = nil  // committed a moment ago; its writer is renaming it into place
            } catch {
                finding = Finding(kind: .missing, tier: tier.name, path: entry.file.path,
                                  detail: "instance \(entry.sopInstanceUID): \(error)")
            }
            if let finding { results.withLock { $0[position] = finding } }
        }
        return results.withLock { $0.sorted { $0.key < $1.key }.map(\.value) }
    }
}
