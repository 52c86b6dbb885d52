import Foundation
import Glibc

/// A writer process's own staging folder under `<tier>/.incoming/`, held with an exclusive lock for as long
/// as the process runs. A folder whose lock can be taken belongs to a process that has died: its files
/// are unfinished steps for recovery to finish or roll back. Live writers' folders are never touched.
public final class StagingSession: @unchecked Sendable {
    public let folder: URL
    private let lockDescriptor: Int32
    private let counter = NSLock()
    private var sequence = 0

    public init(tier: TierDirectory) throws {
        let name = "\(getpid())-\(UUID().uuidString.prefix(8))"
        folder = tier.incomingRoot.appendingPathComponent(name, isDirectory: true)
        try DurableFile.makeDirectory(folder)
        lockDescriptor = try Self.lock(folder, blocking: true)!
    }

    deinit {
        // Leave nothing behind but what is still staged (recovery treats that as unfinished).
        if let left = try? FileManager.default.contentsOfDirectory(atPath: folder.path), left == [Self.lockName] {
            try? FileManager.default.removeItem(at: folder)
        }
        close(lockDescriptor)
    }

    /// The folder's name: identifies this writer (for example as the owner of a claimed job).
    public var name: String { folder.lastPathComponent }

    /// Whether the writer that owns the staging folder `name` is still running.
    public static func isAlive(_ name: String, in tier: TierDirectory) -> Bool {
        let folder = tier.incomingRoot.appendingPathComponent(name, isDirectory: true)
        guard FileManager.default.fileExists(atPath: folder.path) else { return false }
        guard let fd = try? lock(folder, blocking: false) else { return true }
        close(fd)
        return false
    }

    func nextToken() -> String {
        counter.lock()
        defer { counter.unlock() }
        sequence += 1
        return String(sequence)
    }

    static let lockName = ".lock"

    /// Takes the folder's lock; nil when another live process holds it and `blocking` is false.
    static func lock(_ folder: URL, blocking: Bool) throws -> Int32? {
        let path = folder.appendingPathComponent(lockName).path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StoreError.from(errno: errno, path: path, operation: "open lock") }
        if flock(fd, LOCK_EX | (blocking ? 0 : LOCK_NB)) != 0 {
            close(fd)
            return nil
        }
        return fd
    }

    /// Staging folders left by processes that died, with the files in them. Each is returned locked;
    /// call `release` when it has been dealt with.
    public static func abandoned(in tier: TierDirectory) -> [AbandonedStaging] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: tier.incomingRoot.path) else { return [] }
        return names.sorted().compactMap { name in
            let folder = tier.incomingRoot.appendingPathComponent(name, isDirectory: true)
            guard let fd = try? lock(folder, blocking: false) else { return nil }
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
                .filter { $0 != lockName }.sorted().map { folder.appendingPathComponent($0) }
            return AbandonedStaging(folder: folder, files: files, lockDescriptor: fd)
        }
    }
}
