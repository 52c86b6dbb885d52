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
        try fast.prepareFanOut()
        index = try SQLiteIndex(path: self.folder.appendingPathComponent("index.sqlite").path)
        stagingSession.tier = fast
    }

    /// Finishes or rolls back abandoned ingests on every tier.
    @discardableResult
    public func recover() throws -> [IngestRecovery.Action] {
        try tiers.flatMap { try IngestRecovery(index: index, tier: $0).run() }
    }

    /// This process's staging folder on the fast tier, made on first use; it also names this process
    /// as the owner of the derivation jobs it claims.
    public var staging: StagingSession {
        get throws { try stagingSession.get() }
    }
    private let stagingSession = LazyStaging()

    public func tier(named name: String) -> TierDirectory {
        name == archive.name ? archive : fast
    }

    /// The bytes of a stored file, from its tier.
    public func read(_ file: StoredFile) throws -> [UInt8] {
        try DurableFile.read(tier(named: file.tier).url(for: file.path))
    }

    /// Part of a stored file: a frame, or the header before the pixel data.
    public func read(_ file: StoredFile, offset: Int, length: Int) throws -> [UInt8] {
        try DurableFile.read(tier(named: file.tier).url(for: file.path), offset: offset, length: length)
    }

    /// An ingest service writing through this process's staging folder; `onStored` runs after each new instance.
    public func ingestService(onStored: (@Sendable () -> Void)? = nil) throws -> IngestService {
        IngestService(index: index, fast: fast, staging: try staging, onStored: onStored)
    }
}

/// Creates the staging session once, when first needed (read-only commands never make one).
private final class LazyStaging: @unchecked Sendable {
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
