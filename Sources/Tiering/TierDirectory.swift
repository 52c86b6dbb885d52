import Foundation
import Glibc

/// The folder of one storage tier. Stored files sit under hashed folders named from UIDs, never
/// from patient data; new files are staged (written and flushed) under `.incoming/` first and renamed into
/// place once the index has recorded them, so a crash leaves either nothing or a complete file.
public struct TierDirectory: Sendable {
    public let name: String
    public let root: URL

    public init(name: String, root: URL) {
        self.name = name
        self.root = root.standardizedFileURL
    }

    /// Where the staging folders of writers live; anything under it is unfinished work.
    public var incomingRoot: URL { root.appendingPathComponent(".incoming", isDirectory: true) }
    /// Where `verify --repair` puts files no index row claims.
    public var quarantineRoot: URL { root.appendingPathComponent(".quarantine", isDirectory: true) }

    public func url(for relativePath: String) -> URL {
        root.appendingPathComponent(relativePath)
    }

    /// The relative path of a stored object: `ab/<study>/<instance>.<variant>.dcm`, where `<study>` and
    /// `<instance>` are the SHA-256 of the Study and SOP Instance UIDs and `ab` the study's first two digits. A
    /// study's files lie together: storing a study makes one folder, not one per instance.
    public static func placement(study: String, instance: String, variant: String) -> String {
        let folder = SHA256.hash(study)
        return "\(folder.prefix(2))/\(folder)/\(SHA256.hash(instance)).\(variant).dcm"
    }

    /// The relative path of another object of the same instance, in the folder of `path` (a version beside its
    /// original, whichever layout the original was stored in).
    public static func placement(beside path: String, instance: String, variant: String) -> String {
        let folder = path.split(separator: "/").dropLast().joined(separator: "/")
        return "\(folder)/\(SHA256.hash(instance)).\(variant).dcm"
    }

    /// Creates the 256 first-level fan-out folders once, so that storing a file seldom has to create (and
    /// fsync) a folder on the way.
    public func prepareFanOut() throws {
        let marker = root.appendingPathComponent("ff")
        guard !FileManager.default.fileExists(atPath: marker.path) else { return }
        for value in 0..<256 {
            let folder = root.appendingPathComponent(String(format: "%02x", value))
            if mkdir(folder.path, 0o755) != 0, errno != EEXIST {
                throw StoreError.from(errno: errno, path: folder.path, operation: "mkdir")
            }
        }
        try DurableFile.syncDirectory(root)
    }

    /// Writes `bytes` durably to the session's staging folder; nothing is visible at `relativePath` yet.
    public func stage(_ bytes: [UInt8], as relativePath: String, in session: StagingSession) throws -> StagedFile {
        try stage(bytes, as: relativePath, in: session, sync: true)
    }

    /// Copies a file of another tier into the session's staging folder, not yet flushed (see `publishBatch`).
    public func stageCopy(of source: URL, as relativePath: String, sha256: String, in session: StagingSession) throws -> StagedFile {
        let staging = session.folder.appendingPathComponent(StagedFile.stagingName(for: relativePath, token: session.nextToken()))
        let size = try DurableFile.copyUnsynced(source, to: staging)
        return StagedFile(stagingURL: staging, relativePath: relativePath, size: size, sha256: sha256)
    }

    /// Creates the folder `relativePath` will be renamed into, without flushing it (the flush that makes a staged
    /// file durable makes the folder so too).
    public func makeFolder(for relativePath: String) throws {
        try DurableFile.makeFolderUnsynced(url(for: relativePath).deletingLastPathComponent())
    }

    /// Writes `header` then `bytes` to the session's staging folder without flushing (see `flush`). `sha256` tells
    /// their hash when the caller has it (or someone is taking it); it is asked once the bytes are written, while
    /// the device writes them back.
    public func stageUnsynced(_ bytes: [UInt8], after header: [UInt8] = [], sha256: (() -> String)? = nil, as relativePath: String,
                              in session: StagingSession) throws -> StagedFile {
        try stage(bytes, after: header, sha256: sha256, as: relativePath, in: session, sync: false)
    }

    private func stage(_ bytes: [UInt8], after header: [UInt8] = [], sha256 known: (() -> String)? = nil, as relativePath: String,
                       in session: StagingSession, sync: Bool) throws -> StagedFile {
        let staging = session.folder.appendingPathComponent(StagedFile.stagingName(for: relativePath, token: session.nextToken()))
        var sha256 = ""
        try DurableFile.create(staging, header: header, bytes: bytes, sync: sync, alongside: {
            sha256 = known?() ?? SHA256.hash(header, bytes)
        })
        return StagedFile(stagingURL: staging, relativePath: relativePath, size: header.count + bytes.count, sha256: sha256)
    }

    /// Makes a batch of staged copies durable and renames them into place: one file-system flush for the
    /// data, the renames, one flush for the names.
    public func publishBatch(_ staged: [StagedFile]) throws {
        try flush(staged)
        try place(staged)
    }

    /// One flush of the file system for a batch of staged files.
    public func flush(_ staged: [StagedFile]) throws {
        guard let first = staged.first else { return }
        try DurableFile.syncFileSystem(first.stagingURL.deletingLastPathComponent())
    }

    /// Renames flushed staged files into place, then one flush makes the names durable.
    public func place(_ staged: [StagedFile]) throws {
        guard !staged.isEmpty else { return }
        // New folders need no flush each: the flush after the renames makes them durable with the names.
        for file in staged { try renameFlushed(file) }
        try DurableFile.syncFileSystem(root)
    }

    /// Renames a flushed staged file into place, creating its folder when missing; its pages may then leave the
    /// cache (`DurableFile.dropCached`).
    private func renameFlushed(_ staged: StagedFile) throws {
        let destination = url(for: staged.relativePath)
        try DurableFile.renameCreatingFolder(staged.stagingURL, to: destination)
        DurableFile.dropCached(destination)
    }

    /// Renames a staged file to its place (creating its folder when missing), durably.
    /// With `durably` false the new name is not flushed: for a file whose index row is committed, a crash that
    /// loses the rename leaves it staged, and recovery renames it again (IngestRecovery).
    public func publish(_ staged: StagedFile, durably: Bool = true) throws {
        let destination = url(for: staged.relativePath)
        if durably {
            try DurableFile.makeDirectory(destination.deletingLastPathComponent())
            try DurableFile.rename(staged.stagingURL, to: destination)
        } else {
            try renameFlushed(staged)
        }
    }

    /// Whether a live writer holds a staged file for `relativePath` (it is about to be renamed into place).
    public func isBeingPublished(_ relativePath: String) -> Bool {
        let prefix = StagedFile.stagingName(for: relativePath, token: "")
        let writers = (try? FileManager.default.contentsOfDirectory(atPath: incomingRoot.path)) ?? []
        return writers.contains { writer in
            StagingSession.isAlive(writer, in: self)
                && ((try? FileManager.default.contentsOfDirectory(atPath: incomingRoot.appendingPathComponent(writer).path)) ?? [])
                    .contains { $0.hasPrefix(prefix) }
        }
    }

    public func discard(_ staged: StagedFile) {
        try? DurableFile.remove(staged.stagingURL)
    }

    /// Every stored file's relative path, skipping staging and quarantine folders.
    public func storedFiles() -> [String] {
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey]) else { return [] }
        let prefix = root.path.hasSuffix("/") ? root.path : root.path + "/"
        var paths: [String] = []
        for case let url as URL in walker {
            if url.lastPathComponent == ".incoming" || url.lastPathComponent == ".quarantine" {
                walker.skipDescendants()
                continue
            }
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
            let path = url.standardizedFileURL.path
            if path.hasPrefix(prefix) { paths.append(String(path.dropFirst(prefix.count))) }
        }
        return paths
    }

    /// Moves a file that nothing claims to the quarantine folder, keeping its relative path.
    public func quarantine(_ relativePath: String) throws {
        let target = quarantineRoot.appendingPathComponent(relativePath)
        try DurableFile.makeDirectory(target.deletingLastPathComponent())
        try DurableFile.rename(url(for: relativePath), to: target)
    }
}
