import Foundation
import Tiering

/// The data folder opened for work: the index (`index.sqlite`) and the tiers. Opening it finishes or
/// rolls back whatever a writer that died left half done, before anything else reads or writes.
public final class DataStore: Sendable {
    public let folder: URL
    public let index: ImageIndex
    public let fast: TierDirectory
    public let archive: TierDirectory

    public var tiers: [TierDirectory] { [fast, archive] }

    public init(folder: URL, tiering: TieringPolicy) throws {
        self.folder = folder.standardizedFileURL
        fast = TierDirectory(name: "fast", root: TieringPolicy.resolve(tiering.fastPath, dataFolder: self.folder))
        archive = TierDirectory(name: "archive", root: TieringPolicy.resolve(tiering.archivePath, dataFolder: self.folder))
        try DurableFile.makeDirectory(fast.incomingRoot)
        index = try SQLiteIndex(path: self.folder.appendingPathComponent("index.sqlite").path)
    }

    /// Finishes or rolls back abandoned ingests on every tier.
    @discardableResult
    public func recover() throws -> [IngestRecovery.Action] {
        try tiers.flatMap { try IngestRecovery(index: index, tier: $0).run() }
    }

    /// An ingest service writing through its own staging folder (one per process is enough).
    public func ingestService() throws -> IngestService {
        IngestService(index: index, fast: fast, staging: try StagingSession(tier: fast))
    }
}
