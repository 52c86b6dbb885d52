/// The derivation queue: one job per instance whose versions are to be made, persisted so that a restart resumes
/// it, claimed by one owner (a process's staging session) at a time.
public protocol DerivationQueue: Sendable {
    /// Takes the most urgent pending job for `owner`, counting a try; nil when none is pending. Two owners asking
    /// at once never get the same job.
    func claimDerivation(owner: String, now: Double) throws -> DerivationJob?
    /// Records the versions made (files already staged) and closes the job, in one transaction.
    func completeDerivation(_ job: DerivationJob, files: [StoredFile], missing: [String: String], now: Double) throws
    /// Puts a job back in the queue, behind the others; `countingAttempt` false when it did not really fail.
    func deferDerivation(_ job: DerivationJob, countingAttempt: Bool, now: Double) throws
    /// Puts jobs whose owner is no longer alive back in the queue (not counting their try); returns how many.
    func releaseAbandonedDerivations(isAlive: (String) -> Bool) throws -> Int
    /// Moves an instance's job to the front of the queue (a client is waiting for it).
    func prioritizeDerivation(sopInstanceUID: String) throws
    /// Queues (again) the instances matching a query whose versions are incomplete or that are named.
    func requeueDerivations(matching query: IndexQuery, now: Double) throws -> Int
    func derivationCounts() throws -> DerivationCounts
    /// Where an instance's derivation stands, and why versions are missing.
    func derivation(sopInstanceUID: String) throws -> DerivationStatus
}
