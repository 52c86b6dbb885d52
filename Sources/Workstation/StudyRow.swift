
/// A study as `workstation find` lists it.
public struct StudyRow: Codable, Sendable, Equatable {
    public var study: String
    public var date: String
    public var patientName: String
    public var patientID: String
    public var accession: String
    public var modalities: [String]
    public var instances: Int
    public var description: String
}
