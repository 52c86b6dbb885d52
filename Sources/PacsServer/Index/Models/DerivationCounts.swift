
public struct DerivationCounts: Sendable, Equatable, Codable {
    public var pending: Int
    public var running: Int
    public var done: Int
}
