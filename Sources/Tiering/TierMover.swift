import Foundation
import Glibc
import Synchronization

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
    /// Asked between batches: false stops the pass after the batch in hand (the server is stopping).
    private let keepGoing: @Sendable () -> Bool
    /// Files per batch: one journal transaction, two flushes and one index switch for all of them.
    static let batchFiles = 64
    static let batchBytes: Int64 = 64 << 20

    public init(catalog: TierCatalog, fast: TierDirectory, archive: TierDirectory, policy: TieringPolicy, lockURL: URL,
                staging: @escaping @Sendable (TierDirectory) throws -> StagingSession, keepGoing: @escaping @Sendable () -> Bool = { true }) {
        self.keepGoing = keepGoing
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
    /// takes), then failing with `.busy`; a stop (`keepGoing`) ends the wait with `.stopping`. Every method below
    /// expects the caller to hold the lock.
    public func exclusively<T>(waitUpTo seconds: Double? = 0, _ body: () throws -> T) throws -> T {
        let fd = open(lockURL.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StoreError.from(errno: errno, path: lockURL.path, operation: "open lock") }
        defer { close(fd) }
        let deadline = seconds.map { Date().addingTimeInterval($0) } ?? .distantFuture
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else { throw StoreError.from(errno: errno, path: lockURL.path, operation: "lock") }
            guard keepGoing() else { throw TierError.stopping }
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

    /// Carries out the steps in batches, as a two-stage pipeline: while one batch's copies are verified, its
    /// index switched and its sources deleted (CPU: hashing), the next batch is copied (disk).
    func execute(_ planned: [PlannedTransfer], into report: inout TierReport, now: Double) throws {
        let started = Date()
        if planned.contains(where: { $0.destination == archive.name && $0.kind != .drop }) { try checkArchive() }
        let progress = SharedProgress()
        let finisher = DispatchQueue(label: "strata.tier.finish")
        var copiedBytes: Int64 = 0
        var stopped: Error?
        for batch in Self.batches(planned) {
            // A stopping server lets the batch in hand finish and starts no other: the rest waits for the next pass.
            if progress.with({ $0.error != nil }) || !keepGoing() { break }
            do {
                let published = try publish(batch, copiedBytes: &copiedBytes, started: started, progress: progress)
                finisher.async { self.complete(published, progress: progress, started: started) }
            } catch {
                stopped = error
                break
            }
        }
        finisher.sync {}
        let done = progress.with { $0 }
        report.moved += done.report.moved
        report.copied += done.report.copied
        report.dropped += done.report.dropped
        report.recalled += done.report.recalled
        report.failures += done.report.failures
        report.bytes += copiedBytes
        if let error = stopped ?? done.error {
            try? finish(done)
            throw error
        }
        try finish(done)
        report.seconds = Date().timeIntervalSince(started)
    }

    /// What the finishing stage has done so far, shared between the stages.
    struct Progress {
        var report = TierReport()
        /// Steps switched with their sources deleted, flushed and forgotten once at the end of the pass.
        var switched: [Int64] = []
        var sources: Set<String> = []
        var error: Error?
    }

    /// The progress behind a lock, for the two stages.
    final class SharedProgress: @unchecked Sendable {
        private let lock = NSLock()
        private var value = Progress()

        func with<T>(_ body: (inout Progress) -> T) -> T {
            lock.lock()
            defer { lock.unlock() }
            return body(&value)
        }
    }

    /// One batch whose copies are in place, waiting to be verified and switched.
    struct Published {
        var journal: [TierTransfer] = []
        /// Staged copies by destination tier, flushed and renamed into place by the finishing stage.
        var staged: [String: [(TierTransfer, StagedFile)]] = [:]
        var drops: [TierTransfer] = []
    }

    static func batches(_ planned: [PlannedTransfer]) -> [[PlannedTransfer]] {
        var batches: [[PlannedTransfer]] = [[]]
        var bytes: Int64 = 0
        for transfer in planned {
            if batches[batches.count - 1].count >= batchFiles || bytes >= batchBytes {
                batches.append([])
                bytes = 0
            }
            batches[batches.count - 1].append(transfer)
            bytes += transfer.kind == .drop ? 0 : transfer.object.size
        }
        return batches.filter { !$0.isEmpty }
    }

    private func finish(_ progress: Progress) throws {
        for name in progress.sources { try DurableFile.syncFileSystem(tier(name).root) }
        try catalog.endTransfers(progress.switched)
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

    /// Journals a batch and copies it into the destinations' staging folders. A fault of the destination (full,
    /// read-only) undoes the batch's copies and stops the pass.
    private func publish(_ batch: [PlannedTransfer], copiedBytes: inout Int64, started: Date, progress: SharedProgress) throws -> Published {
        let journal = try catalog.beginTransfers(batch.map(\.transfer))
        var published = Published()
        var stagedFiles: [StagedFile] = []
        var byDestination: [String: [(TierTransfer, StagedFile)]] = [:]
        do {
            published.drops = journal.filter { $0.kind == .drop }
            let copies = journal.filter { $0.kind != .drop }
            // Several copies at a time: the disk serves several streams faster than one.
            let results = copies.concurrentMap(threads: 4) { transfer -> Result<StagedFile, StoreError> in
                let destination = tier(transfer.destination)
                do {
                    return .success(try destination.stageCopy(of: tier(transfer.source).url(for: transfer.path), as: transfer.path,
                                                               sha256: transfer.sha256, in: try staging(destination)))
                } catch let error as StoreError {
                    return .failure(error)
                } catch {
                    return .failure(.io(path: transfer.path, operation: "copy", errno: 0))
                }
            }
            for (transfer, result) in zip(copies, results) {
                switch result {
                case let .success(file):
                    stagedFiles.append(file)
                    byDestination[transfer.destination, default: []].append((transfer, file))
                    copiedBytes += Int64(file.size)
                case let .failure(error):
                    if case .diskFull = error { throw error }
                    if case .readOnly = error { throw error }
                    fail(transfer, "\(error)", progress: progress)
                }
            }
            throttle(bytes: copiedBytes, since: started)
            published.staged = byDestination
            published.journal = journal
        } catch {
            undo(journal, staged: stagedFiles, error)
            throw TierError.archiveUnavailable("\(error)")
        }
        return published
    }

    /// Undoes a batch the destination could not take: its copies removed, its steps forgotten, every source kept.
    private func undo(_ journal: [TierTransfer], staged: [StagedFile], _ error: Error) {
        for transfer in journal where transfer.kind != .drop {
            try? DurableFile.remove(tier(transfer.destination).url(for: transfer.path))
        }
        for file in staged { try? DurableFile.remove(file.stagingURL) }
        try? catalog.endTransfers(journal.map(\.id))
        try? catalog.record([TierEvent(kind: .failed, at: Date().timeIntervalSince1970, detail: "\(error)")])
    }

    private func fail(_ transfer: TierTransfer, _ why: String, progress: SharedProgress) {
        progress.with { $0.report.failures.append("\(transfer.path) (\(transfer.source) to \(transfer.destination)): \(why)") }
        try? catalog.record([TierEvent(kind: .failed, bytes: transfer.size, at: Date().timeIntervalSince1970, detail: "\(transfer.path): \(why)")])
        try? catalog.endTransfers([transfer.id])
    }

    /// Flushes a batch's copies and renames them into place, verifies them against the index, switches the
    /// index for the good ones and deletes their sources. Never deletes the only verified copy: a copy that
    /// does not match is removed, its source kept.
    private func complete(_ batch: Published, progress: SharedProgress, started: Date) {
        // Flush and rename the staged copies into place (the copies of the next batch go on meanwhile).
        var copies: [TierTransfer] = []
        do {
            for (name, files) in batch.staged {
                try tier(name).publishBatch(files.map(\.1))
                copies += files.map(\.0)
            }
        } catch {
            undo(batch.journal, staged: batch.staged.values.flatMap { $0.map(\.1) }, error)
            progress.with { $0.error = $0.error ?? TierError.archiveUnavailable("\(error)") }
            return
        }
        do {
            var ready: [TierTransfer] = []
            let checks = verify(copies, on: nil) + verify(batch.drops, on: nil)
            for (transfer, why) in zip(copies + batch.drops, checks) {
                if let why {
                    if transfer.kind != .drop { try? DurableFile.remove(tier(transfer.destination).url(for: transfer.path)) }
                    fail(transfer, transfer.kind == .drop ? "not dropped: \(why)" : "the copy does not match the index (\(why)); removed it, kept the source",
                         progress: progress)
                } else {
                    ready.append(transfer)
                }
            }
            try catalog.switchTransfers(ready, now: Date().timeIntervalSince1970)
            for transfer in ready where transfer.kind != .copy {
                try DurableFile.remove(tier(transfer.source).url(for: transfer.path))
            }
            let now = Date().timeIntervalSince1970
            var events: [TierEvent] = []
            progress.with { progress in
                for transfer in ready {
                    let recall = transfer.kind == .copy && transfer.destination == fast.name
                    switch transfer.kind {
                    case .move: progress.report.moved += 1
                    case .drop: progress.report.dropped += 1
                    case .copy: if recall { progress.report.recalled += 1 } else { progress.report.copied += 1 }
                    }
                    if transfer.kind != .copy { progress.sources.insert(transfer.source) }
                    progress.switched.append(transfer.id)
                    let kind: TierEvent.Kind = transfer.kind == .move ? .moved : transfer.kind == .drop ? .dropped : recall ? .recalled : .copied
                    events.append(TierEvent(kind: kind, bytes: transfer.size, seconds: now - started.timeIntervalSince1970, at: now, detail: transfer.reason))
                }
            }
            try catalog.record(events)
        } catch {
            progress.with { $0.error = $0.error ?? error }
        }
    }

    /// Re-hashes the destination copies of a batch on all cores; for each, why it is not what the index says, or nil.
    func verify(_ transfers: [TierTransfer], on tierName: String?) -> [String?] {
        let results = Mutex<[String?]>(Array(repeating: nil, count: transfers.count))
        DispatchQueue.concurrentPerform(iterations: transfers.count) { position in
            let why = mismatch(transfers[position], on: tierName ?? transfers[position].destination)
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

    /// Sleeps as needed to keep to the policy's bandwidth; a stop cuts the sleep short (the batch is copied).
    private func throttle(bytes: Int64, since started: Date) {
        guard let limit = policy.bandwidth, limit > 0 else { return }
        let until = started.addingTimeInterval(Double(bytes) / Double(limit))
        while keepGoing(), Date() < until {
            Thread.sleep(forTimeInterval: min(0.1, until.timeIntervalSinceNow))
        }
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
