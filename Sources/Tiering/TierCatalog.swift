/// One stored object (one representation of one version of an instance) and the tiers holding a copy.
/// The relative path is the same on every tier, so a copy is found on any tier by its path.
public struct TieredObject: Sendable, Equatable {
    public struct Key: Sendable, Hashable {
        /// The catalog's own id of the instance.
        public var instance: Int64
        public var version: String
        public var variant: String

        public init(instance: Int64, version: String, variant: String) {
            self.instance = instance
            self.version = version
            self.variant = variant
        }
    }

    public var key: Key
    public var sopInstanceUID: String
    public var studyInstanceUID: String
    public var patientID: String
    public var modality: String
    public var path: String
    public var size: Int64
    public var sha256: String
    /// The tiers holding an indexed copy, each with when a recalled copy expires (nil: it stays).
    public var copies: [String: Double?]
    /// Seconds since 1970.
    public var ingestedAt: Double
    /// When the study first reached each diagnosis status (by name), for `since: status` rules.
    public var statusReachedAt: [String: Double]

    public init(key: Key, sopInstanceUID: String, studyInstanceUID: String, patientID: String, modality: String, path: String,
                size: Int64, sha256: String, copies: [String: Double?], ingestedAt: Double, statusReachedAt: [String: Double]) {
        self.key = key
        self.sopInstanceUID = sopInstanceUID
        self.studyInstanceUID = studyInstanceUID
        self.patientID = patientID
        self.modality = modality
        self.path = path
        self.size = size
        self.sha256 = sha256
        self.copies = copies
        self.ingestedAt = ingestedAt
        self.statusReachedAt = statusReachedAt
    }

    public func has(_ tier: String) -> Bool { copies[tier] != nil }
}

/// One journaled step of the mover. It is recorded before anything is written and removed once done, so a
/// restart finds every interrupted step and finishes it (after the index switched) or rolls it back (before).
public struct TierTransfer: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// Copy to the destination, switch the index to it, delete the source copy.
        case move
        /// Copy to the destination and index the copy; the source stays (archive at ingest, recall).
        case copy
        /// Delete the source copy; the destination already holds a verified, indexed one.
        case drop
    }

    public enum State: String, Sendable {
        /// Written before the copy starts: the index still knows only the source.
        case copying
        /// The index switched: only the source file's deletion (move, drop) may be left.
        case switched
    }

    public var id: Int64
    public var kind: Kind
    public var object: TieredObject.Key
    public var path: String
    public var sha256: String
    public var size: Int64
    public var source: String
    public var destination: String
    /// For a recall: when the fast copy expires.
    public var expiresAt: Double?
    public var reason: String
    public var state: State

    public init(id: Int64 = 0, kind: Kind, object: TieredObject.Key, path: String, sha256: String, size: Int64, source: String,
                destination: String, expiresAt: Double? = nil, reason: String, state: State = .copying) {
        self.id = id
        self.kind = kind
        self.object = object
        self.path = path
        self.sha256 = sha256
        self.size = size
        self.source = source
        self.destination = destination
        self.expiresAt = expiresAt
        self.reason = reason
        self.state = state
    }
}

/// Something the mover did or saw, kept for the figures (`pacs tier status`).
public struct TierEvent: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case moved, copied, dropped, recalled, scrubbed, bitrot, failed, stuck
    }

    public var kind: Kind
    public var bytes: Int64
    /// Seconds the step took (a recall's latency).
    public var seconds: Double
    public var at: Double
    public var detail: String

    public init(kind: Kind, bytes: Int64 = 0, seconds: Double = 0, at: Double, detail: String = "") {
        self.kind = kind
        self.bytes = bytes
        self.seconds = seconds
        self.at = at
        self.detail = detail
    }
}

/// A scheduled examination whose patient's prior studies are recalled ahead of time.
public struct Prefetch: Sendable, Equatable {
    public var id: Int64
    public var patientID: String
    /// When the examination is scheduled (seconds since 1970).
    public var scheduledAt: Double
    public var requestedBy: String
    /// Nil until done.
    public var doneAt: Double?

    public init(id: Int64 = 0, patientID: String, scheduledAt: Double, requestedBy: String, doneAt: Double? = nil) {
        self.id = id
        self.patientID = patientID
        self.scheduledAt = scheduledAt
        self.requestedBy = requestedBy
        self.doneAt = doneAt
    }
}

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
