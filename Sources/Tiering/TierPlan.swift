
public struct TierPlan: Sendable, Equatable {
    public var transfers: [PlannedTransfer] = []
    /// Said loudly: the fast tier is over its high watermark and not enough may move.
    public var warnings: [String] = []
}
