
public struct StudySummary: Sendable, Equatable, Codable {
    public var studyInstanceUID: String
    public var patientID: String
    public var patientName: String
    public var patientBirthDate: String
    public var patientSex: String
    public var studyDate: String
    public var studyTime: String
    public var accessionNumber: String
    public var studyDescription: String
    public var referringPhysicianName: String
    public var studyID: String
    /// Diagnosis status: 1 unread ... 5 report drafted.
    public var status: DiagnosisStatus
    public var modalities: [String]
    public var seriesCount: Int
    public var instanceCount: Int
}
