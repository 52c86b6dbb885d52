import DICOM

/// The attributes of one instance that the index keeps, taken from its dataset at ingest.
public struct IndexedAttributes: Sendable, Equatable {
    public var patientID: String
    public var issuerOfPatientID: String
    public var patientName: String
    public var patientBirthDate: String
    public var patientSex: String
    public var studyInstanceUID: String
    public var studyDate: String
    public var studyTime: String
    public var accessionNumber: String
    public var studyDescription: String
    public var referringPhysicianName: String
    public var studyID: String
    public var seriesInstanceUID: String
    public var modality: String
    public var seriesNumber: Int?
    public var seriesDescription: String
    public var bodyPartExamined: String
    public var sopInstanceUID: String
    public var sopClassUID: String
    public var instanceNumber: Int?
    public var rows: Int?
    public var columns: Int?
    public var numberOfFrames: Int

    /// Reads the indexed attributes; the four identifying UIDs must be present.
    public init(_ dataSet: DataSet) throws {
        func uid(_ tag: Tag) throws -> String {
            guard let value = dataSet.string(tag), !value.isEmpty else { throw DICOMError.missingAttribute(tag) }
            return value
        }
        func text(_ tag: Tag) -> String { dataSet.string(tag) ?? "" }
        sopInstanceUID = try uid(.sopInstanceUID)
        sopClassUID = try uid(.sopClassUID)
        studyInstanceUID = try uid(.studyInstanceUID)
        seriesInstanceUID = try uid(.seriesInstanceUID)
        patientID = text(.patientID)
        issuerOfPatientID = text(.issuerOfPatientID)
        patientName = dataSet.strings(.patientName).joined(separator: "\\")
        patientBirthDate = text(.patientBirthDate)
        patientSex = text(.patientSex)
        studyDate = text(.studyDate)
        studyTime = text(.studyTime)
        accessionNumber = text(.accessionNumber)
        studyDescription = text(.studyDescription)
        referringPhysicianName = text(.referringPhysicianName)
        studyID = text(.studyID)
        modality = text(.modality)
        seriesNumber = dataSet.int(.seriesNumber)
        seriesDescription = text(.seriesDescription)
        bodyPartExamined = text(.bodyPartExamined)
        instanceNumber = dataSet.int(.instanceNumber)
        rows = dataSet.int(.rows)
        columns = dataSet.int(.columns)
        numberOfFrames = dataSet.int(.numberOfFrames) ?? 1
    }
}
