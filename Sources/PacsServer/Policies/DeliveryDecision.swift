
public struct DeliveryDecision: Sendable, Equatable {
    /// Nil when the access matrix allows none of the candidates.
    public var version: String?
    public var candidates: [String]
    public var display: Int?
    /// The entry of delivery.yaml that decided, for the response headers.
    public var rule: String
}
