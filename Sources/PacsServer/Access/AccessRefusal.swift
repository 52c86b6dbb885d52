/// What the access gate refused, and why, naming the access.yaml entry that decided (or why the decision could not
/// be made). HTTP answers it with 403, DIMSE with a failure whose Error Comment carries the reason.
public struct AccessRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    public var reason: String

    public var description: String { reason }
}
