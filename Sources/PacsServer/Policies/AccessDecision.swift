public struct AccessDecision: Sendable, Equatable {
    public var allowed: Bool
    /// The policy entry that decided, for the refusal message and the access log.
    public var rule: String
}
