
/// One change of a study's diagnosis status.
public struct StatusChange: Sendable, Equatable, Codable {
    public var from: Int
    public var to: Int
    public var user: String
    public var reason: String?
    /// Seconds since 1970.
    public var at: Double
}
