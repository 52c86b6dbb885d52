import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Why the mover did not run or stopped.
public enum TierError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Another mover (the server's, or another `pacs tier` command) holds the lock.
    case busy
    /// The archive cannot take files; migration pauses and nothing is deleted.
    case archiveUnavailable(String)

    public var description: String {
        switch self {
        case .busy: return "another mover is running on this data folder (the server's or another pacs tier command); try again when it is done"
        case let .archiveUnavailable(reason): return "migration paused: \(reason); nothing was deleted from the fast tier"
        }
    }
}

/// What one pass of the mover did.
public struct TierReport: Sendable, Equatable {
    public var moved = 0, copied = 0, dropped = 0, recalled = 0
    public var bytes: Int64 = 0
    public var seconds = 0.0
    /// Steps that failed, each with why; their source copies were kept.
    public var failures: [String] = []
    /// Interrupted steps a restart finished or rolled back.
    public var recovered: [String] = []

    public init() {}
}

/// Carries out tier transfers: copy (in the kernel) to the destination's staging folder, flush, rename into
/// place, verify the copy's SHA-256 against the index, switch the index, then delete the source copy; every
/// step journaled in the catalog first, so a restart finishes or rolls back whatever a crash interrupted.
/// One mover at a time per data folder, held by a lock file.
public final class TierMover: Sendable {
    public let catalog: TierCatalog
    public let fast: TierDirectory
    public let archive: TierDirectory
    public let policy: TieringPolicy
    private let lockURL: URL
    private let staging: @Sendable (TierDirectory) throws -> StagingSession
    /// Files per batch: one journal transaction, two flushes and one index switch for all of them.
    static let batchFiles = 64
    static let batchBytes: Int64 = 128 << 20

    public init(catalog: TierCatalog, fast: TierDirectory, archive: TierDirectory, policy: TieringPolicy, lockURL: URL,
                staging: @escaping @Sendable (TierDirectory) throws -> StagingSession) {
        self.catalog = catalog
        self.fast = fast
        self.archive = archive
        self.policy = policy
        self.lockURL = lockURL
        self.staging = staging
    }

    func tier(_ name: String) -> TierDirectory { name == archive.name ? archive : fast }

    // MARK: The lock

    /// Runs `body` holding the mover lock, waiting for another mover up to `seconds` (nil: as long as it
    /// takes), then failing with `.busy`. Every method below expects the caller to hold the lock.
    public func exclusively<T>(waitUpTo seconds: Double? = 0, _ body: () throws -> T) throws -> T {
        let fd = open(lockURL.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StoreError.from(errno: errno, path: lockURL.path, operation: "open lock") }
        defer { close(fd) }
        let deadline = Date().addingTimeInterval(seconds ?? 0)
        while flock(fd, LOCK_EX | (seconds == nil ? 0 : LOCK_NB)) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else { throw StoreError.from(errno: errno, path: lockURL.path, operation: "lock") }
            guard Date() < deadline else { throw TierError.busy }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return try body()
    }

    // MARK: Passes

    /// Recovers interrupted steps, then plans at `now` and carries the plan out (unless `dryRun`).
    public func run(now: Double, dryRun: Bool, usage: TierUsage?) throws -> (plan: TierPlan, report: TierReport) {
        do {
            var report = TierReport()
            if !dryRun { report.recovered = try recover() }
            let plan = TierPlanner(policy: policy).plan(try catalog.tieredObjects(studyInstanceUIDs: nil, patientID: nil), now: now, usage: usage)
            if !plan.warnings.isEmpty {
                try? catalog.record(plan.warnings.map { TierEvent(kind: .stuck, at: now, detail: $0) })
            }
            guard !dryRun, !plan.transfers.isEmpty else { return (plan, report) }
            try execute(plan.transfers, into: &report, now: now)
            return (plan, report)
        }
    }

    /// Copies archived objects back to the fast tier for `ttl` seconds (a copy already fast is left alone).
    public func recall(_ objects: [TieredObject], ttl: Double, reason: String, now: Double) throws -> TierReport {
        do {
            var report = TierReport()
            report.recovered = try recover()
            let wanted = objects.filter { $0.has(TierPlanner.archive) && !$0.has(TierPlanner.fast) }.map {
                PlannedTransfer(kind: .copy, object: $0, source: TierPlanner.archive, destination: TierPlanner.fast, expiresAt: now + ttl, reason: reason)
            }
            try execute(wanted, into: &report, now: now)
            return report
        }
    }

    // MARK: Carrying out

    func execute(_ planned: [PlannedTransfer], into report: inout TierReport, now: Double) throws {
        let started = Date()
        if planned.contains(where: { $0.destination == archive.name && $0.kind != .drop }) { try checkArchive() }
        var batch: [PlannedTransfer] = []
        var batchBytes: Int64 = 0
        for transfer in planned {
            batch.append(transfer)
            batchBytes += transfer.kind == .drop ? 0 : transfer.object.size
            if batch.count >= Self.batchFiles || batchBytes >= Self.batchBytes {
                try executeBatch(batch, into: &report, started: started)
                batch.removeAll()
                batchBytes = 0
            }
        }
        try executeBatch(batch, into: &report, started: started)
        report.seconds = Date().timeIntervalSince(started)
    }

    /// The archive must exist (a mount that is missing looks like an empty folder otherwise) and take writes.
    func checkArchive() throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: archive.root.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw TierError.archiveUnavailable("the archive folder \(archive.root.path) does not exist (not mounted?)")
        }
        guard access(archive.root.path, W_OK) == 0 else {
            throw TierError.archiveUnavailable("the archive folder \(archive.root.path) is not writable (read-only mount?)")
        }
    }

    private func executeBatch(_ batch: [PlannedTransfer], into report: inout TierReport, started: Date) throws {
        guard !batch.isEmpty else { return }
        let journal = try catalog.beginTransfers(batch.map(\.transfer))
        var ready: [TierTransfer] = []
        var stagedFiles: [StagedFile] = []
        var events: [TierEvent] = []
        var failed: [Int64] = []
        func fail(_ transfer: TierTransfer, _ why: String) {
            report.failures.append("\(transfer.path) (\(transfer.source) to \(transfer.destination)): \(why)")
            events.append(TierEvent(kind: .failed, bytes: transfer.size, at: Date().timeIntervalSince1970, detail: "\(transfer.path): \(why)"))
            failed.append(transfer.id)
        }
        do {
            // Copy what needs copying into each destination's staging folder.
            var byDestination: [String: [(TierTransfer, StagedFile)]] = [:]
            for transfer in journal {
                if transfer.kind == .drop {
                    // Never delete the only verified copy: the one staying must match the index now.
                    if let why = mismatch(transfer, on: transfer.destination) { fail(transfer, "not dropped: \(why)") } else { ready.append(transfer) }
                    continue
                }
                let destination = tier(transfer.destination)
                do {
                    let session = try staging(destination)
                    let file = try destination.stageCopy(of: tier(transfer.source).url(for: transfer.path), as: transfer.path,
                                                          sha256: transfer.sha256, in: session)
                    stagedFiles.append(file)
                    byDestination[transfer.destination, default: []].append((transfer, file))
                    throttle(bytes: report.bytes + Int64(file.size), since: started)
                    report.bytes += Int64(file.size)
                } catch let error as StoreError {
                    if case .diskFull = error { throw error }
                    if case .readOnly = error { throw error }
                    fail(transfer, "\(error)")
                }
            }
            for (name, files) in byDestination {
                try tier(name).publishBatch(files.map(\.1))
                for (transfer, why) in zip(files.map(\.0), verify(files.map(\.0), on: name)) {
                    if let why {
                        try? DurableFile.remove(tier(name).url(for: transfer.path))
                        fail(transfer, "the copy does not match the index (\(why)); removed it, kept the source")
                    } else {
                        ready.append(transfer)
                    }
                }
            }
        } catch {
            // Disk full, read-only, or a flush failed: undo this batch's copies, keep every source.
            for transfer in journal where !failed.contains(transfer.id) {
                if transfer.kind != .drop { try? DurableFile.remove(tier(transfer.destination).url(for: transfer.path)) }
            }
            for file in stagedFiles { try? DurableFile.remove(file.stagingURL) }
            try? catalog.endTransfers(journal.map(\.id))
            try? catalog.record(events + [TierEvent(kind: .failed, at: Date().timeIntervalSince1970, detail: "\(error)")])
            throw TierError.archiveUnavailable("\(error)")
        }
        try catalog.switchTransfers(ready, now: Date().timeIntervalSince1970)
        // The index no longer names the source copies of moves and drops: delete them, flush, forget the steps.
        var sources = Set<String>()
        for transfer in ready where transfer.kind != .copy {
            try DurableFile.remove(tier(transfer.source).url(for: transfer.path))
            sources.insert(transfer.source)
        }
        for name in sources { try DurableFile.syncFileSystem(tier(name).root) }
        try catalog.endTransfers(ready.map(\.id) + failed)
        let now = Date().timeIntervalSince1970
        for transfer in ready {
            switch transfer.kind {
            case .move: report.moved += 1
            case .drop: report.dropped += 1
            case .copy where transfer.destination == fast.name: report.recalled += 1
            case .copy: report.copied += 1
            }
            let kind: TierEvent.Kind = transfer.kind == .move ? .moved : transfer.kind == .drop ? .dropped
                : transfer.destination == fast.name ? .recalled : .copied
            events.append(TierEvent(kind: kind, bytes: transfer.size, seconds: now - started.timeIntervalSince1970, at: now, detail: transfer.reason))
        }
        try catalog.record(events)
    }

    /// Re-hashes the copies of a batch on all cores; for each, why it is not what the index says, or nil.
    func verify(_ transfers: [TierTransfer], on tierName: String) -> [String?] {
        let results = Mutex<[String?]>(Array(repeating: nil, count: transfers.count))
        DispatchQueue.concurrentPerform(iterations: transfers.count) { position in
            let why = mismatch(transfers[position], on: tierName)
            results.withLock { $0[position] = why }
        }
        return results.withLock { $0 }
    }

    /// Why the copy of a transfer's object on a tier is not what the index says, or nil when it is.
    func mismatch(_ transfer: TierTransfer, on tierName: String) -> String? {
        mismatch(path: transfer.path, sha256: transfer.sha256, size: transfer.size, on: tierName)
    }

    func mismatch(path: String, sha256 expected: String, size expectedSize: Int64, on tierName: String) -> String? {
        guard let (sha256, size) = try? DurableFile.digest(tier(tierName).url(for: path)) else {
            return "no readable copy on the \(tierName) tier"
        }
        if size != Int(expectedSize) { return "\(size) bytes on the \(tierName) tier, the index says \(expectedSize)" }
        if sha256 != expected { return "SHA-256 on the \(tierName) tier is \(sha256.prefix(12))..., the index says \(expected.prefix(12))..." }
        return nil
    }

    /// Sleeps as needed to keep to the policy's bandwidth.
    private func throttle(bytes: Int64, since started: Date) {
        guard let limit = policy.bandwidth, limit > 0 else { return }
        let ahead = Double(bytes) / Double(limit) - Date().timeIntervalSince(started)
        if ahead > 0 { Thread.sleep(forTimeInterval: ahead) }
    }

    // MARK: Recovery

    /// Finishes or rolls back every journaled step a crash interrupted.
    public func recover() throws -> [String] {
        var done: [String] = []
        for transfer in try catalog.transfers() {
            let object = try catalog.tieredObject(path: transfer.path)
            switch transfer.state {
            case .copying:
                // The index never switched: the source is the copy of record. Remove a destination copy
                // the index does not know.
                if transfer.kind != .drop, !(object?.has(transfer.destination) ?? false) {
                    try DurableFile.remove(tier(transfer.destination).url(for: transfer.path))
                }
                done.append("rolled back \(transfer.kind.rawValue) of \(transfer.path) to \(transfer.destination)")
            case .switched:
                // The index names the destination: delete the source copy it no longer names.
                if transfer.kind != .copy, !(object?.has(transfer.source) ?? false) {
                    try DurableFile.remove(tier(transfer.source).url(for: transfer.path))
                    try DurableFile.syncFileSystem(tier(transfer.source).root)
                }
                done.append("finished \(transfer.kind.rawValue) of \(transfer.path) to \(transfer.destination)")
            }
            try catalog.endTransfers([transfer.id])
        }
        return done
    }

    // MARK: Scrub

    /// Re-hashes up to `limit` archived copies, least recently verified first; returns those that rotted.
    public func scrub(limit: Int, now: Double) throws -> (checked: Int, rotten: [String]) {
        var rotten: [String] = []
        let candidates = try catalog.scrubCandidates(tier: archive.name, limit: limit)
        var events: [TierEvent] = []
        for object in candidates {
            if let why = mismatch(path: object.path, sha256: object.sha256, size: object.size, on: archive.name) {
                let line = "\(object.sopInstanceUID) \(object.key.version) \(object.key.variant) at \(archive.name)/\(object.path): \(why)"
                rotten.append(line)
                events.append(TierEvent(kind: .bitrot, bytes: object.size, at: now, detail: line))
            } else {
                try catalog.markVerified(object.key, tier: archive.name, at: now)
                events.append(TierEvent(kind: .scrubbed, bytes: object.size, at: now))
            }
        }
        try catalog.record(events)
        return (candidates.count, rotten)
    }
}
