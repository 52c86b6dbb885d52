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
