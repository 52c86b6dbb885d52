/// What the access gate refused, and why, naming the access.yaml entry that decided (or why the decision could not
/// be made). HTTP answers it with 403, DIMSE with a failure whose Error Comment carries the reason.
public struct AccessRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    public var reason: String
    /// The access.yaml entry that refused, when one did.
    public var rule: String?

    public init(reason: String, rule: String? = nil) {
        self.reason = reason
        self.rule = rule
    }

    public var description: String { reason }

    /// The reason in a DIMSE Error Comment's 64 characters: the rule (which names the role and the study's status)
    /// when there is one.
    public var brief: String { rule.map { "refused by \($0)" } ?? reason }
}
