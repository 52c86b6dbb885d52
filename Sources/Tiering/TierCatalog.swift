/// What the mover needs from the index. The server's index implements it; the mover never writes SQL.
public protocol TierCatalog: Sendable {
    /// Objects with their copies; restricted to some studies or a patient when asked.
    func tieredObjects(studyInstanceUIDs: [String]?, patientID: String?) throws -> [TieredObject]
    /// The object indexed at a relative path, if any.
    func tieredObject(path: String) throws -> TieredObject?

    /// Unfinished steps, oldest first.
    func transfers() throws -> [TierTransfer]
    /// Journals steps before they start (state `copying`); returns them with their ids.
    func beginTransfers(_ transfers: [TierTransfer]) throws -> [TierTransfer]
    /// Switches the index for finished copies in one transaction (a move's or copy's destination copy is
    /// indexed, a move's or drop's source copy unindexed) and marks the steps `switched`.
    func switchTransfers(_ transfers: [TierTransfer], now: Double) throws
    /// Forgets steps that are finished or rolled back.
    func endTransfers(_ ids: [Int64]) throws

    func record(_ events: [TierEvent]) throws
    func events(since: Double) throws -> [TierEvent]

    /// Archived copies least recently verified, for the scrub; and the record of a verification.
    func scrubCandidates(tier: String, limit: Int) throws -> [TieredObject]
    func markVerified(_ key: TieredObject.Key, tier: String, at: Double) throws

    func schedulePrefetch(_ prefetch: Prefetch) throws -> Prefetch
    func prefetches(pendingOnly: Bool) throws -> [Prefetch]
    func completePrefetch(id: Int64, at: Double) throws
}
