import Foundation
import Tiering

/// Finishes or rolls back the ingests of writers that died (kill -9, power cut) from their staging folders:
/// a staged file the index records is renamed into place (finish); one it does not is deleted (roll back:
/// it was never acknowledged). Live writers' folders are locked and left alone.
public struct IngestRecovery: Sendable {
    public enum Action: Sendable, Equatable {
        case finished(path: String)
        case rolledBack(path: String)
        case alreadyInPlace(path: String)
        /// A staged file that matches neither the index nor its place: kept in quarantine for a person to look at.
        case quarantined(path: String)
    }

    let index: ImageIndex
    let tier: TierDirectory

    public init(index: ImageIndex, tier: TierDirectory) {
        self.index = index
        self.tier = tier
    }

    /// What recovery would do, without doing it.
    public func pending() -> [Action] {
        var actions: [Action] = []
        for folder in StagingSession.abandoned(in: tier) {
            for file in folder.files { actions.append(decide(file)) }
            folder.release()
        }
        return actions
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
                case let .quarantined(path):
                    let target = tier.quarantineRoot.appendingPathComponent("unfinished").appendingPathComponent(path)
                    try DurableFile.makeDirectory(target.deletingLastPathComponent())
                    try DurableFile.rename(file, to: target)
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
        return .quarantined(path: path)
    }
}
