
public struct DerivationStatus: Sendable, Equatable, Codable {
    /// pending, running or done.
    public var state: String
    /// Versions that could not be made, by name, with the reason.
    public var missing: [String: String]
}
