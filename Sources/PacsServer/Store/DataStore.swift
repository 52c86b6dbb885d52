import Foundation
import NIOCore
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
        // An archive inside the data folder is ours to create; one elsewhere is a mount that must be there.
        if !tiering.archivePath.hasPrefix("/") { try DurableFile.makeDirectory(archive.root) }
        index = try SQLiteIndex(path: self.folder.appendingPathComponent("index.sqlite").path)
        stagingSession.tier = fast
        archiveStaging.tier = archive
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
    private let archiveStaging = LazyStaging()

    public func tier(named name: String) -> TierDirectory {
        name == archive.name ? archive : fast
    }

    /// The bytes of a stored file, from its tier.
    public func read(_ file: StoredFile) throws -> [UInt8] {
        try fromEitherTier(file) { try DurableFile.read($0) }
    }

    /// Part of a stored file: a frame, or the header before the pixel data.
    public func read(_ file: StoredFile, offset: Int, length: Int) throws -> [UInt8] {
        try fromEitherTier(file) { try DurableFile.read($0, offset: offset, length: length) }
    }

    /// A frame of a stored file (`length` bytes from `offset`) as a buffer a response can send as is: from the
    /// frames served lately, or read straight from the file into a new buffer.
    public func frame(_ file: StoredFile, offset: Int, length: Int) throws -> ByteBuffer {
        try frames.frame(FrameBufferCache.Key(tier: file.tier, path: file.path, offset: offset, length: length)) {
            var buffer = ByteBufferAllocator().buffer(capacity: length)  // exactly the frame: the cache counts what it holds
            _ = try fromEitherTier(file) { url -> [UInt8] in
                try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { pointer in
                    try DurableFile.read(url, offset: offset, into: UnsafeMutableRawBufferPointer(rebasing: pointer.prefix(length)))
                }
                return []
            }
            return buffer
        }
    }

    /// Frames served lately, kept up to this many bytes.
    static let frameCacheBudget = 256 << 20
    private let frames = FrameBufferCache(budget: DataStore.frameCacheBudget)

    /// Reads from the copy the caller was told of, or, when the mover has just switched it to the other tier
    /// (the path is the same on both), from there: a read during a move never fails. A file whose index row is
    /// committed but that its writer has not renamed into place yet is waited for (up to `publishingWait`).
    private func fromEitherTier(_ file: StoredFile, _ read: (URL) throws -> [UInt8]) throws -> [UInt8] {
        let deadline = Date().addingTimeInterval(Self.publishingWait)
        while true {
            do {
                return try fromEitherTierNow(file, read)
            } catch StoreError.missing {
                // Not being renamed (any more): one last read settles it, as the rename may have landed just now.
                guard fast.isBeingPublished(file.path), Date() < deadline else { return try fromEitherTierNow(file, read) }
                Thread.sleep(forTimeInterval: 0.001)
            }
        }
    }

    /// How long a read waits for a file being renamed into place (its writer may still be flushing).
    static let publishingWait: TimeInterval = 5

    /// Reading an archived copy tells `archiveReads` (which recalls it, when the policy says so).
    private func fromEitherTierNow(_ file: StoredFile, _ read: (URL) throws -> [UInt8]) throws -> [UInt8] {
        let primary = tier(named: file.tier)
        do {
            let bytes = try read(primary.url(for: file.path))
            if primary.name == archive.name { archiveReads.notify(file.path) }
            return bytes
        } catch StoreError.missing {
            let other = primary.name == fast.name ? archive : fast
            let bytes = try read(other.url(for: file.path))
            if other.name == archive.name { archiveReads.notify(file.path) }
            return bytes
        }
    }

    /// Told the path of every archived file read.
    public let archiveReads = ArchiveReadObserver()

    /// The mover for this store, with the tiering policy in force.
    /// `keepGoing`, asked between batches, stops a pass early (the server is stopping).
    public func mover(policy: TieringPolicy, keepGoing: @escaping @Sendable () -> Bool = { true }) -> TierMover {
        let (fastStaging, archiveStaging) = (stagingSession, self.archiveStaging)
        let archiveName = archive.name
        return TierMover(catalog: index, fast: fast, archive: archive, policy: policy, lockURL: folder.appendingPathComponent("tiering.lock"),
                         staging: { tier in try tier.name == archiveName ? archiveStaging.get() : fastStaging.get() }, keepGoing: keepGoing)
    }

    /// An ingest service writing through this process's staging folder; `onStored` runs after each new instance.
    /// `codecs` compares a re-sent instance with the stored one.
    public func ingestService(codecs: CodecRunner, onStored: (@Sendable () -> Void)? = nil) throws -> IngestService {
        IngestService(index: index, fast: fast, staging: try staging, read: { [self] in try read($0) }, codecs: codecs,
                      conflicts: conflicts, onStored: onStored)
    }

    /// Objects held aside because they conflict with a stored instance.
    public var conflicts: ConflictHold {
        ConflictHold(folder: folder.appendingPathComponent("conflicts"), index: index)
    }
}
