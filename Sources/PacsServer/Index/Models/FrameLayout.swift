
/// One frame's compressed codestream inside a stored file.
public struct FrameLayout: Sendable, Equatable, Codable {
    /// Byte offset of the codestream in the file.
    public var offset: Int
    public var length: Int
    /// For JPEG 2000 in resolution order: where each level ends (relative to `offset`) and its size.
    public var levelEnds: [Int]?
    public var levelSizes: [[Int]]?

    public init(offset: Int, length: Int, levelEnds: [Int]? = nil, levelSizes: [[Int]]? = nil) {
        self.offset = offset
        self.length = length
        self.levelEnds = levelEnds
        self.levelSizes = levelSizes
    }
}
