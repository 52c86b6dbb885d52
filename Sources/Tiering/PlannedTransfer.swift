
/// A step the mover would take, and why.
public struct PlannedTransfer: Sendable, Equatable {
    public var kind: TierTransfer.Kind
    public var object: TieredObject
    public var source: String
    public var destination: String
    public var expiresAt: Double?
    public var reason: String

    public var transfer: TierTransfer {
        TierTransfer(kind: kind, object: object.key, path: object.path, sha256: object.sha256, size: object.size, source: source,
                     destination: destination, expiresAt: expiresAt, reason: reason)
    }
}
