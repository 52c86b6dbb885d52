
/// Where a pull stands, for the progress line.
public struct PullProgress: Sendable {
    public var frames: Int
    /// Frames held at the current pass's level.
    public var done: Int
    public var level: Int
    public var finestLevel: Int
    public var bytes: Int
    public var seconds: Double
}
