import Foundation
import Tiering

/// Finishes or rolls back the ingests of writers that died (kill -9, power cut) from their staging folders:
/// a staged file the index records is renamed into place (finish); one it does not is deleted (roll back:
/// it was never acknowledged). An original whose row reached the disk but whose data did not (a power cut before
/// the ingest's flush) was never acknowledged either: its row goes with it. Live writers' folders are locked
/// and left alone.
public struct IngestRecovery: Sendable {
    public enum Action: Sendable, Equatable, CustomStringConvertible {
        case finished(path: String)
        case rolledBack(path: String)
        /// The index recorded the instance but its staged original is incomplete: both are removed.
        case forgotten(path: String, sopInstanceUID: String)
        case alreadyInPlace(path: String)
        /// A staged file that matches neither the index nor its place: left where it is for a person
        /// (or `pacs verify --repair`, which quarantines it) to look at.
        case unresolved(staged: URL, path: String)

        public var description: String {
            switch self {
            case let .finished(path): return "finished the interrupted store of \(path)"
            case let .rolledBack(path): return "rolled back the unacknowledged store of \(path)"
            case let .forgotten(path, uid):
                return "rolled back the unacknowledged store of \(path) (instance \(uid)): its data never reached the disk"
            case let .alreadyInPlace(path): return "removed the leftover staging copy of \(path)"
            case let .unresolved(staged, path): return "\(staged.path) was staged for \(path) but matches neither the index nor the stored file"
            }
        }
    }

    let index: ImageIndex
    let tier: TierDirectory

    public init(index: ImageIndex, tier: TierDirectory) {
        self.index = index
        self.tier = tier
    }

    @discardableResult
    public func run() throws -> [Action] {
        var actions: [Action] = []
        for folder in StagingSession.abandoned(in: tier) {
            defer { folder.release() }
            for file in folder.files {
                let action = decide(file)
                switch action {
                case let .finished(path):
                    let destination = tier.url(for: path)
                    try DurableFile.makeDirectory(destination.deletingLastPathComponent())
                    try DurableFile.rename(file, to: destination)
                case .rolledBack, .alreadyInPlace:
                    try DurableFile.remove(file)
                case let .forgotten(_, uid):
                    try index.forget(sopInstanceUIDs: [uid])
                    try DurableFile.remove(file)
                case .unresolved:
                    break
                }
                actions.append(action)
            }
        }
        return actions
    }

    private func decide(_ staged: URL) -> Action {
        guard let path = StagedFile.destination(ofStagingName: staged.lastPathComponent) else {
            return .rolledBack(path: staged.lastPathComponent)
        }
        guard let recorded = try? index.storedFile(tier: tier.name, path: path) else { return .rolledBack(path: path) }
        if let inPlace = try? DurableFile.digest(tier.url(for: path)), inPlace.sha256 == recorded.file.sha256 {
            return .alreadyInPlace(path: path)
        }
        if let staged = try? DurableFile.digest(staged), staged.sha256 == recorded.file.sha256 {
            return .finished(path: path)
        }
        // An ingest records an instance with its original alone, before the one flush that makes file and row
        // durable: an incomplete original, not in place, with no other copy, is one whose flush never completed,
        // so the sender never heard "stored". (A tier move's copy has its source beside it, and stays unresolved.)
        if recorded.file.variant == IngestService.originalVariant, !FileManager.default.fileExists(atPath: tier.url(for: path).path),
           (try? index.files(sopInstanceUID: recorded.sopInstanceUID).count) == 1 {
            return .forgotten(path: path, sopInstanceUID: recorded.sopInstanceUID)
        }
        return .unresolved(staged: staged, path: path)
    }
}
