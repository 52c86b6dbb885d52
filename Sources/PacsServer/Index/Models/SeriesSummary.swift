
public struct SeriesSummary: Sendable, Equatable, Codable {
    public var seriesInstanceUID: String
    public var studyInstanceUID: String
    public var modality: String
    public var seriesNumber: Int?
    public var seriesDescription: String
    public var bodyPartExamined: String
    public var instanceCount: Int
}
