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
