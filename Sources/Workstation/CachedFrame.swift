
/// What the cache holds of one frame of one version: the codestream's first `heldBytes` bytes (through
/// resolution level `level`), as the server's ETag named them.
public struct CachedFrame: Codable, Sendable, Equatable {
    public var sopInstanceUID: String
    public var frame: Int
    public var version: String
    public var mediaType: String
    public var etag: String
    /// The resolution level held and how many there are (nil for V1, which has none).
    public var level: Int?
    public var levels: Int?
    public var width: Int?
    public var height: Int?
    public var heldBytes: Int
    /// True when the frame is held at the finest level the pull asked for, or whole.
    public var complete: Bool

    public var isTop: Bool { level == nil || level == (levels ?? 1) - 1 }
}
