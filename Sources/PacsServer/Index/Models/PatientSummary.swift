
public struct PatientSummary: Sendable, Equatable, Codable {
    public var patientID: String
    public var patientName: String
    public var patientBirthDate: String
    public var patientSex: String
    public var studyCount: Int
    public var seriesCount: Int
    public var instanceCount: Int
}
