
public struct InstanceSummary: Sendable, Equatable, Codable {
    public var sopInstanceUID: String
    public var sopClassUID: String
    public var seriesInstanceUID: String
    public var studyInstanceUID: String
    public var instanceNumber: Int?
    public var rows: Int?
    public var columns: Int?
    public var numberOfFrames: Int
    public var transferSyntaxUID: String
    public var files: [StoredFile]
}
