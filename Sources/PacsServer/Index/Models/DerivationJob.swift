
/// A claimed derivation job.
public struct DerivationJob: Sendable, Equatable {
    public var sopInstanceUID: String
    public var attempts: Int
}
