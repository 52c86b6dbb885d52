import Foundation
import Logging
import Synchronization
import Tiering

/// Runs the tiering inside the server and for `pacs tier`: passes of the mover on the policy's schedule
/// (retention, watermarks, expired recalls), prefetches that fall due, a share of the archive re-hashed
/// per day, and recalls of archived files that were read. All file work happens in `Tiering`.
public final class TieringService: Sendable {
    public let store: DataStore
    public let policies: PolicyStore
    let logger: Logger
    /// Set when the server stops: every mover of this service ends after the batch in hand, and none starts.
    private let stopping = Atomic<Bool>(false)

    public init(store: DataStore, policies: PolicyStore, logger: Logger) {
        self.store = store
        self.policies = policies
        self.logger = logger
    }

    var policy: TieringPolicy { policies.current.tiering }

    /// Stops the tiering of a stopping server: passes (the loop's and those an admin asked for) and recalls end after
    /// the batch in hand.
    func stop() {
        stopping.store(true, ordering: .relaxed)
    }

    var isStopping: Bool { stopping.load(ordering: .relaxed) }

    /// A mover that stops when the service does.
    private func mover() -> TierMover {
        store.mover(policy: policy) { [self] in !isStopping }
    }

    /// What one pass found and did.
    public struct PassResult: Sendable {
        public var plan: TierPlan
        public var report: TierReport
        public var prefetched: [String] = []
        public var scrubbed = 0
        public var rotten: [String] = []
    }

    /// One pass as of `now`: recover, plan and move, then due prefetches and the scrub's share; with `dryRun`
    /// only the plan. Waits up to `wait` seconds for another mover (a recall in progress) to finish.
    public func pass(now: Double, dryRun: Bool, scrubLimit: Int? = nil, wait: Double = 30) throws -> PassResult {
        let mover = mover()
        let usage = try usage()
        return try mover.exclusively(waitUpTo: wait) {
            let (plan, report) = try mover.run(now: now, dryRun: dryRun, usage: usage)
            var result = PassResult(plan: plan, report: report)
            guard !dryRun else { return result }
            let prefetched = try prefetchDue(now: now, mover: mover)
            result.prefetched = prefetched.lines
            result.report.recalled += prefetched.recalled
            result.report.bytes += prefetched.bytes
            let limit = try scrubLimit ?? scrubShare(of: mover)
            if limit > 0 {
                let scrub = try mover.scrub(limit: limit, now: now)
                result.scrubbed = scrub.checked
                result.rotten = scrub.rotten
            }
            return result
        }
    }

    /// The fast tier's fill: indexed bytes against the policy's capacity, or the file system's when it has none.
    public func usage() throws -> TierUsage? {
        if let capacity = policy.capacity {
            let used = try store.index.tieredObjects(studyInstanceUIDs: nil, patientID: nil)
                .filter { $0.has(TierPlanner.fast) }.reduce(Int64(0)) { $0 + $1.size }
            return TierUsage(used: used, capacity: capacity)
        }
        var info = statvfs()
        guard statvfs(store.fast.root.path, &info) == 0 else { return nil }
        let total = Int64(info.f_blocks) * Int64(info.f_frsize)
        return TierUsage(used: total - Int64(info.f_bavail) * Int64(info.f_frsize), capacity: total)
    }

    /// Archived files to re-hash in one pass: the daily share spread over the passes of a day.
    private func scrubShare(of mover: TierMover) throws -> Int {
        let archived = try store.index.tieredObjects(studyInstanceUIDs: nil, patientID: nil).filter { $0.has(TierPlanner.archive) }.count
        let passesPerDay = max(1, 86_400 / policy.runEvery)
        return Int((Double(archived) * policy.scrubPerDay / passesPerDay).rounded(.up))
    }

    // MARK: Recall and prefetch

    /// Recalls a study's archived files to the fast tier for the policy's time to live.
    public func recall(studies: [String], now: Double, reason: String) throws -> TierReport {
        let objects = try store.index.tieredObjects(studyInstanceUIDs: studies, patientID: nil)
        let mover = mover()
        return try mover.exclusively(waitUpTo: 120) { try mover.recall(objects, ttl: policy.recallTTL, reason: reason, now: now) }
    }

    public func schedulePrefetch(patientID: String, at scheduled: Double, by user: String) throws -> Prefetch {
        try store.index.schedulePrefetch(Prefetch(patientID: patientID, scheduledAt: scheduled, requestedBy: user))
    }

    /// Recalls the priors of every patient whose examination is due within the lead time; they stay fast
    /// until the policy's time to live after the examination.
    private func prefetchDue(now: Double, mover: TierMover) throws -> (lines: [String], recalled: Int, bytes: Int64) {
        var done: (lines: [String], recalled: Int, bytes: Int64) = ([], 0, 0)
        for prefetch in try store.index.prefetches(pendingOnly: true) where prefetch.scheduledAt - policy.prefetchLead <= now {
            let priors = try store.index.tieredObjects(studyInstanceUIDs: nil, patientID: prefetch.patientID)
            let report = try mover.recall(priors, ttl: prefetch.scheduledAt + policy.recallTTL - now,
                                          reason: "prefetch for patient \(prefetch.patientID)'s examination at \(TierPlanner.date(prefetch.scheduledAt))", now: now)
            try store.index.completePrefetch(id: prefetch.id, at: now)
            done.lines.append("patient \(prefetch.patientID): \(report.recalled) files recalled")
            done.recalled += report.recalled
            done.bytes += report.bytes
        }
        return done
    }

    /// A pass for the server's loop, its outcome logged.
    func runPass() {
        do {
            let result = try pass(now: Date().timeIntervalSince1970, dryRun: false)
            let report = result.report
            for warning in result.plan.warnings { logger.error("\(warning)") }
            for line in report.recovered { logger.notice("tiering: \(line)") }
            for failure in report.failures { logger.error("tiering: \(failure)") }
            for line in result.rotten { logger.critical("BIT ROT on the archive: \(line)") }
            if report.moved + report.copied + report.dropped + report.recalled > 0 || !result.prefetched.isEmpty {
                logger.info("tiering: moved \(report.moved), copied \(report.copied), dropped \(report.dropped), recalled \(report.recalled) (\(report.bytes) bytes in \(String(format: "%.1f", report.seconds)) s)\(result.prefetched.isEmpty ? "" : "; prefetched " + result.prefetched.joined(separator: "; "))")
            }
        } catch TierError.busy {
            logger.info("tiering: another mover is running; next pass later")
        } catch TierError.stopping {
            return
        } catch {
            logger.error("tiering: \(error)")
        }
    }

    /// Recalls archived files that were read, if the policy says so.
    func recall(read paths: [String]) {
        guard !paths.isEmpty, policy.recallOnRead else { return }
        do {
            let objects = try paths.compactMap { try store.index.tieredObject(path: $0) }
            let mover = mover()
            let report = try mover.exclusively(waitUpTo: nil) {
                try mover.recall(objects, ttl: policy.recallTTL, reason: "read from the archive", now: Date().timeIntervalSince1970)
            }
            if report.recalled > 0 { logger.info("tiering: recalled \(report.recalled) archived files that were read") }
        } catch TierError.stopping {
            return
        } catch {
            logger.error("tiering: recall after read failed: \(error)")
        }
    }
}
