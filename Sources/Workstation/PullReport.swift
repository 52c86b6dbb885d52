
/// What a pull did.
public struct PullReport: Codable, Sendable {
    public var version: String
    /// The rule that chose the version (the request's parameter, or the delivery policy's rule).
    public var rule: String
    public var frames: Int
    public var finestLevel: Int?
    public var bytesDownloaded: Int
    public var seconds: Double
    /// Seconds until every frame was held at level 0 (the whole series viewable, coarse), then at each level.
    public var levelSeconds: [Double]
    /// Frames already held when the pull started (a resumed pull).
    public var alreadyHeld: Int
}
