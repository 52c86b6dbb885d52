
/// How full the fast tier is.
public struct TierUsage: Sendable, Equatable {
    public var used: Int64
    public var capacity: Int64

    public init(used: Int64, capacity: Int64) {
        self.used = used
        self.capacity = capacity
    }

    public var percent: Double { capacity > 0 ? Double(used) * 100 / Double(capacity) : 0 }
}
