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

/// One stored copy of one version of an instance, as the index records it.
public struct StoredFile: Sendable, Equatable, Codable {
    public var version: String
    /// Which representation of the version: `original` for the bytes as received.
    public var variant: String
    public var tier: String
    /// Relative to the tier's folder.
    public var path: String
    public var size: Int
    public var sha256: String
    public var transferSyntaxUID: String
}

/// A query over the index, as C-FIND and QIDO-RS ask it. Empty fields match everything.
public struct IndexQuery: Sendable, Equatable {
    public var patientID: String?
    /// With `*` and `?` wildcards, matched case-insensitively.
    public var patientName: String?
    /// `YYYYMMDD`, `YYYYMMDD-YYYYMMDD`, `YYYYMMDD-` or `-YYYYMMDD`.
    public var studyDate: String?
    public var modality: String?
    public var accessionNumber: String?
    public var studyInstanceUIDs: [String] = []
    public var seriesInstanceUIDs: [String] = []
    public var sopInstanceUIDs: [String] = []
    public var limit: Int?
    public var offset: Int = 0

    public init() {}
}

public struct StudySummary: Sendable, Equatable, Codable {
    public var studyInstanceUID: String
    public var patientID: String
    public var patientName: String
    public var studyDate: String
    public var studyTime: String
    public var accessionNumber: String
    public var studyDescription: String
    public var modalities: [String]
    public var seriesCount: Int
    public var instanceCount: Int
}

public struct SeriesSummary: Sendable, Equatable, Codable {
    public var seriesInstanceUID: String
    public var studyInstanceUID: String
    public var modality: String
    public var seriesNumber: Int?
    public var seriesDescription: String
    public var instanceCount: Int
}

public struct InstanceSummary: Sendable, Equatable, Codable {
    public var sopInstanceUID: String
    public var sopClassUID: String
    public var seriesInstanceUID: String
    public var studyInstanceUID: String
    public var instanceNumber: Int?
    public var transferSyntaxUID: String
    public var files: [StoredFile]
}

/// What recording an instance did.
public enum RecordOutcome: Sendable, Equatable {
    case recorded
    /// An instance with this SOP Instance UID is already indexed; nothing was changed.
    case exists(StoredFile)
}

/// The index of patients, studies, series, instances and stored files. The callers see only this
/// protocol, so an index on another database can stand in for the SQLite one.
public protocol ImageIndex: Sendable {
    /// Records an instance and its original's file in one transaction.
    func record(_ attributes: IndexedAttributes, original: StoredFile, receivedAt: Double) throws -> RecordOutcome
    /// The original file of an instance, if the instance is indexed.
    func original(sopInstanceUID: String) throws -> StoredFile?
    func studies(matching query: IndexQuery) throws -> [StudySummary]
    func series(matching query: IndexQuery) throws -> [SeriesSummary]
    func instances(matching query: IndexQuery) throws -> [InstanceSummary]
    /// Every stored file on a tier with the instance it belongs to, for verification.
    func storedFiles(tier: String) throws -> [IndexedFile]
    /// The stored file recorded at a path of a tier.
    func storedFile(tier: String, path: String) throws -> IndexedFile?
}

/// A stored file and the instance it belongs to.
public struct IndexedFile: Sendable, Equatable {
    public var sopInstanceUID: String
    public var file: StoredFile
}
