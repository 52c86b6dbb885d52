import Glibc

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
