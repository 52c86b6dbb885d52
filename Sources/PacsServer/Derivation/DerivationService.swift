import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Tiering

/// Works the persisted derivation queue: claims a job, derives the missing versions, stores them the way
/// ingest stores originals (staged and fsynced, recorded in one transaction, then renamed into place) and
/// closes the job. Jobs of a process that died go back to the queue, so a restart resumes them. In the server it is
/// one of the services: its threads derive for the server's life and stop with it.
public final class DerivationService: Service, Sendable {
    /// A job is given up (its versions listed as missing with the last error) after this many tries.
    static let maximumAttempts = 3

    private let store: DataStore
    private let policy: @Sendable () -> CompressionPolicy
    /// Where the codec work runs: worker processes, so an image that crashes a codec fails only its own job.
    private let codecs: CodecRunner
    private let logger: Logger
    /// The threads that derive in the server, at a lower CPU priority than everything else.
    private let workers: Int
    private let wakeup = DispatchSemaphore(value: 0)
    /// How many of those threads have not yet returned.
    private let running = Atomic<Int>(0)
    private let stopped = Atomic<Bool>(false)
    /// Until when (uptime nanoseconds) images are arriving: derivation then leaves the cores to ingest.
    private let receivingUntil = Atomic<UInt64>(0)
    /// Since when (uptime nanoseconds) images have been arriving without a pause.
    private let receivingSince = Atomic<UInt64>(0)
    /// Told the SOP Instance UID of every instance whose versions are made.
    private let onDerived: (@Sendable (String) -> Void)?

    public init(store: DataStore, policy: @escaping @Sendable () -> CompressionPolicy, codecs: CodecRunner,
                workers: Int = ProcessInfo.processInfo.activeProcessorCount, logger: Logger = Logger(label: "strata.derive"),
                onDerived: (@Sendable (String) -> Void)? = nil) {
        self.store = store
        self.policy = policy
        self.codecs = codecs
        self.workers = max(1, workers)
        self.logger = logger
        self.onDerived = onDerived
    }

    /// Puts back the jobs of processes that died while deriving.
    @discardableResult
    public func releaseAbandoned() throws -> Int {
        let fast = store.fast
        return try store.index.releaseAbandonedDerivations { StagingSession.isAlive($0, in: fast) }
    }

    /// Derives one queued instance; false when the queue is empty.
    public func runOne() throws -> Bool {
        let staging = try store.staging
        let index = store.index
        guard let job = try index.claimDerivation(owner: staging.name, now: Date().timeIntervalSince1970) else { return false }
        do {
            try derive(job, staging: staging)
            onDerived?(job.sopInstanceUID)
        } catch is NotYetPublished {
            try index.deferDerivation(job, countingAttempt: false, now: Date().timeIntervalSince1970)
        } catch where stopped.load(ordering: .relaxed) {
            // The server is stopping and ended the job's codec worker: the job waits for the next start, its try not counted.
            try index.deferDerivation(job, countingAttempt: false, now: Date().timeIntervalSince1970)
        } catch {
            if job.attempts >= Self.maximumAttempts {
                logger.error("giving up deriving versions", metadata: ["sop": "\(job.sopInstanceUID)", "error": "\(error)"])
                try giveUp(job, reason: "gave up after \(job.attempts) tries: \(error)")
            } else {
                logger.warning("deriving versions failed; will retry", metadata: ["sop": "\(job.sopInstanceUID)", "error": "\(error)"])
                try index.deferDerivation(job, countingAttempt: true, now: Date().timeIntervalSince1970)
            }
        }
        return true
    }

    /// Closes a job without versions: each is listed as not made, for `reason`.
    private func giveUp(_ job: DerivationJob, reason: String) throws {
        let names = ["V1"] + policy().versions.map(\.name)
        try store.index.completeDerivation(job, files: [], missing: Dictionary(uniqueKeysWithValues: names.map { ($0, reason) }),
                                           now: Date().timeIntervalSince1970)
    }

    private func derive(_ job: DerivationJob, staging: StagingSession) throws {
        let index = store.index
        let files = try index.files(sopInstanceUID: job.sopInstanceUID)
        guard let original = files.first(where: { $0.variant == IngestService.originalVariant }) else {
            try index.completeDerivation(job, files: [], missing: [:], now: Date().timeIntervalSince1970)
            return
        }
        let existing = Set(files.map { "\($0.version)/\($0.variant)" })
        let result = try codecs.derive(try readWhenPublished(original), existing: existing, policy: policy())
        var staged: [StagedFile] = []
        var recorded: [StoredFile] = []
        do {
            for product in result.products {
                let path = TierDirectory.placement(beside: original.path, instance: job.sopInstanceUID,
                                                   variant: "\(product.file.version)-\(product.file.variant)")
                let file = try store.fast.stage(product.bytes, as: path, in: staging)
                staged.append(file)
                var entry = product.file
                entry.tier = store.fast.name
                entry.path = path
                entry.sha256 = file.sha256
                recorded.append(entry)
            }
            try index.completeDerivation(job, files: recorded, missing: result.missing, now: Date().timeIntervalSince1970)
        } catch {
            staged.forEach(store.fast.discard)
            throw error
        }
        for file in staged { try store.fast.publish(file) }
    }

    /// The original's bytes. Its index row is committed before the file is renamed into place, so a job can be
    /// claimed before the file is there: the read waits for a live writer's rename; if the file is still not
    /// there (its writer died and awaits recovery), other jobs go first.
    private func readWhenPublished(_ original: StoredFile) throws -> [UInt8] {
        do {
            return try store.read(original)
        } catch StoreError.missing {
            throw NotYetPublished()
        }
    }

    /// The original of a claimed job is not in place yet (its writer is still publishing, or died and
    /// awaits recovery): the job goes back to the queue without counting as a failed attempt.
    struct NotYetPublished: Error {}

    /// Runs `workers` threads until the queue is empty; `progress` is called after each job.
    public func drain(workers: Int = ProcessInfo.processInfo.activeProcessorCount, progress: @Sendable () -> Void = {}) throws {
        try releaseAbandoned()
        let failure = Mutex<Error?>(nil)
        DispatchQueue.concurrentPerform(iterations: max(1, workers)) { _ in
            do {
                while try runOne() { progress() }
            } catch {
                failure.withLock { $0 = error }
            }
        }
        if let error = failure.withLock({ $0 }) { throw error }
    }

    /// Derives in the background for the life of the server, then stops with it.
    public func run() async {
        start()
        try? await gracefulShutdown()
        await stop()
    }

    /// Starts the threads that derive, waking when told new work arrived and checking the queue every second
    /// regardless. They run at a lower CPU priority than everything else, and while images are arriving they wait
    /// (see `waitsForReceiving`).
    private func start() {
        _ = try? releaseAbandoned()
        for number in 0..<workers {
            running.add(1, ordering: .relaxed)
            let thread = Thread { [self] in
                defer { running.subtract(1, ordering: .relaxed) }
                #if os(Linux)
                // On Linux, who = 0 means the calling thread: only the derive threads are lowered.
                setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
                #endif
                while !stopped.load(ordering: .relaxed) {
                    if waitsForReceiving(worker: number) {
                        Thread.sleep(forTimeInterval: 0.1)
                        continue
                    }
                    do {
                        if try !runOne() { _ = wakeup.wait(timeout: .now() + 1) }
                    } catch {
                        logger.error("derivation worker: \(error)")
                        _ = wakeup.wait(timeout: .now() + 1)
                    }
                }
            }
            thread.name = "derive-\(number)"
            thread.start()
        }
    }

    /// Stops the threads: the jobs in hand get a few seconds to finish, then their codec workers are ended and the
    /// jobs go back to the queue without counting a try. A stop is quick and loses nothing.
    private func stop() async {
        stopped.store(true, ordering: .relaxed)
        for _ in 0..<workers { wakeup.signal() }
        if await !finished(within: .seconds(5)) {
            codecs.shutdown()
            _ = await finished(within: .seconds(10))
        }
    }

    private func finished(within limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while running.load(ordering: .relaxed) > 0 {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    /// Tells the workers that an instance was stored: there is work, and images are arriving.
    public func instanceStored() {
        let now = DispatchTime.now().uptimeNanoseconds
        if receivingUntil.load(ordering: .relaxed) < now { receivingSince.store(now, ordering: .relaxed) }
        receivingUntil.store(now + 500_000_000, ordering: .relaxed)
        wakeup.signal()
    }

    /// While images arrive, derivation waits (receiving comes first); after `patience` of continuous
    /// arrivals one worker derives anyway, so a long stream cannot hold the versions back for good.
    private func waitsForReceiving(worker: Int) -> Bool {
        let now = DispatchTime.now().uptimeNanoseconds
        guard now < receivingUntil.load(ordering: .relaxed) else { return false }
        return worker > 0 || now - receivingSince.load(ordering: .relaxed) < Self.patience
    }

    static let patience: UInt64 = 20_000_000_000

    /// Tells an idle worker that there is work (a version someone waits for).
    public func wake() {
        wakeup.signal()
    }
}
