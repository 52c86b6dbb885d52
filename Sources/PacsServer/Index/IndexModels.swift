import Foundation
import Tiering
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
    /// Which representation of the version: `original` for the bytes as received, `jpegls` for V1's
    /// lossless copy, `j2k` for lossy versions.
    public var variant: String
    public var tier: String
    /// Relative to the tier's folder.
    public var path: String
    public var size: Int
    public var sha256: String
    public var transferSyntaxUID: String
    /// The derived object's own SOP Instance UID (lossy versions); nil where it is the instance's.
    public var sopInstanceUID: String?
    public var purpose: String?
    /// Image quality relative to the original, percent.
    public var quality: Int?
    public var targetRatio: Double?
    public var achievedRatio: Double?
    /// The worst frame's PSNR in dB; nil for bit-exact versions.
    public var psnr: Double?
    public var maxError: Int?
    /// Where each frame's data (or codestream) lies in the file, with its resolution levels.
    public var frames: [FrameLayout]?
    /// Bytes before the Pixel Data element.
    public var headerLength: Int?

    public init(version: String, variant: String, tier: String, path: String, size: Int, sha256: String, transferSyntaxUID: String,
                sopInstanceUID: String? = nil, purpose: String? = nil, quality: Int? = nil, targetRatio: Double? = nil,
                achievedRatio: Double? = nil, psnr: Double? = nil, maxError: Int? = nil, frames: [FrameLayout]? = nil,
                headerLength: Int? = nil) {
        self.version = version
        self.variant = variant
        self.tier = tier
        self.path = path
        self.size = size
        self.sha256 = sha256
        self.transferSyntaxUID = transferSyntaxUID
        self.sopInstanceUID = sopInstanceUID
        self.purpose = purpose
        self.quality = quality
        self.targetRatio = targetRatio
        self.achievedRatio = achievedRatio
        self.psnr = psnr
        self.maxError = maxError
        self.frames = frames
        self.headerLength = headerLength
    }
}

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

public struct PatientSummary: Sendable, Equatable, Codable {
    public var patientID: String
    public var patientName: String
    public var patientBirthDate: String
    public var patientSex: String
    public var studyCount: Int
    public var seriesCount: Int
    public var instanceCount: Int
}

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
    public var status: Int
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
    public var bodyPartExamined: String
    public var instanceCount: Int
}

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

/// What recording an instance did.
public enum RecordOutcome: Sendable, Equatable {
    case recorded
    /// An instance with this SOP Instance UID is already indexed; nothing was changed.
    case exists(StoredFile)
}

/// The index of patients, studies, series, instances and stored files. The callers see only this
/// protocol, so an index on another database can stand in for the SQLite one.
public protocol ImageIndex: TierCatalog {
    /// The folder holding the index's own files (a caller flushes its file system).
    var folder: URL { get }
    /// Records instances, their originals' files and their derivation jobs, all in one transaction. The commit
    /// does not wait for the disk: it is durable once the caller has flushed the file system holding `folder`
    /// (the ingest flushes it together with the staged files, one flush for both).
    func record(_ batch: [(attributes: IndexedAttributes, original: StoredFile)], receivedAt: Double) throws -> [RecordOutcome]
    /// Removes instances whose ingest did not finish (their data never reached the disk, so they were never
    /// acknowledged): their rows, and their series, study and patient when nothing else holds them.
    func forget(sopInstanceUIDs: [String]) throws
    /// Every stored file of an instance.
    func files(sopInstanceUID: String) throws -> [StoredFile]

    // The diagnosis workflow.
    /// Changes a study's status and records who, when and why, in one transaction; the rule is checked
    /// inside it, so two changes cannot race past it.
    func changeStatus(studyInstanceUID: String, to status: DiagnosisStatus, by user: String, reason: String?,
                      allowBackwards: Bool, now: Double) throws -> StatusChange
    func statusHistory(studyInstanceUID: String) throws -> [StatusChange]
    /// A study's diagnosis status (1 unread ... 5 report); nil for an unknown study.
    func status(studyInstanceUID: String) throws -> Int?
    /// Records a revision of a note, annotation or report (a new item when `entry.item` is empty) and raises
    /// the study's status to the kind's, in one transaction; returns the entry as recorded.
    func addDiagnostic(_ entry: DiagnosticEntry, studyInstanceUID: String) throws -> DiagnosticEntry
    /// A study's diagnostic information: the latest revision of each item, or every revision with `history`.
    func diagnostics(studyInstanceUID: String, history: Bool) throws -> [DiagnosticEntry]

    // The derivation queue (persisted, so a restart resumes it).
    /// Takes the most urgent pending job for `owner`; nil when none is pending.
    func claimDerivation(owner: String, now: Double) throws -> DerivationJob?
    /// Records the versions made (files already staged) and closes the job, in one transaction.
    func completeDerivation(_ job: DerivationJob, files: [StoredFile], missing: [String: String], now: Double) throws
    /// Puts a job back in the queue, behind the others; `countingAttempt` false when it did not really fail.
    func deferDerivation(_ job: DerivationJob, countingAttempt: Bool, now: Double) throws
    /// Puts jobs whose owner is no longer alive back in the queue; returns how many.
    func releaseAbandonedDerivations(isAlive: (String) -> Bool) throws -> Int
    /// Moves an instance's job to the front of the queue (a client is waiting for it).
    func prioritizeDerivation(sopInstanceUID: String) throws
    /// Queues (again) the instances matching a query whose versions are incomplete or that are named.
    func requeueDerivations(matching query: IndexQuery, now: Double) throws -> Int
    func derivationCounts() throws -> DerivationCounts
    /// Where an instance's derivation stands, and why versions are missing.
    func derivation(sopInstanceUID: String) throws -> DerivationStatus
    /// The original file of an instance, if the instance is indexed.
    func original(sopInstanceUID: String) throws -> StoredFile?
    func patients(matching query: IndexQuery) throws -> [PatientSummary]
    func studies(matching query: IndexQuery) throws -> [StudySummary]
    func series(matching query: IndexQuery) throws -> [SeriesSummary]
    func instances(matching query: IndexQuery) throws -> [InstanceSummary]
    /// Every stored file on a tier with the instance it belongs to, for verification.
    func storedFiles(tier: String) throws -> [IndexedFile]
    /// The stored file recorded at a path of a tier.
    func storedFile(tier: String, path: String) throws -> IndexedFile?

    // Objects held aside as conflicts.
    /// Records a held object (its id assigned); one already held with the same SHA-256 is returned as it is.
    func holdConflict(_ conflict: HeldConflict) throws -> HeldConflict
    func heldConflict(sha256: String) throws -> HeldConflict?
    func heldConflicts() throws -> [HeldConflict]
    /// Forgets a held object; returns it, nil when there is none with this id.
    func releaseConflict(id: Int64) throws -> HeldConflict?
}

extension ImageIndex {
    /// Records one instance, its original's file and its derivation job in one transaction.
    public func record(_ attributes: IndexedAttributes, original: StoredFile, receivedAt: Double) throws -> RecordOutcome {
        try record([(attributes, original)], receivedAt: receivedAt)[0]
    }
}

/// One change of a study's diagnosis status.
public struct StatusChange: Sendable, Equatable, Codable {
    public var from: Int
    public var to: Int
    public var user: String
    public var reason: String?
    /// Seconds since 1970.
    public var at: Double
}

/// Why a status change was refused.
public enum StatusChangeError: Error, Equatable, CustomStringConvertible {
    case noSuchStudy(String)
    case unchanged(DiagnosisStatus)
    case backwards(from: DiagnosisStatus, to: DiagnosisStatus)
    case reasonRequired

    public var description: String {
        switch self {
        case let .noSuchStudy(uid): return "no study \(uid)"
        case let .unchanged(status): return "the study already is \(status.rawValue) (\(status.name))"
        case let .backwards(from, to): return "going back from \(from.rawValue) (\(from.name)) to \(to.rawValue) (\(to.name)) is for admins only, with a reason"
        case .reasonRequired: return "going back in the workflow needs a reason"
        }
    }
}

/// A claimed derivation job.
public struct DerivationJob: Sendable, Equatable {
    public var sopInstanceUID: String
    public var attempts: Int
}

public struct DerivationStatus: Sendable, Equatable, Codable {
    /// pending, running or done.
    public var state: String
    /// Versions that could not be made, by name, with the reason.
    public var missing: [String: String]
}

public struct DerivationCounts: Sendable, Equatable, Codable {
    public var pending: Int
    public var running: Int
    public var done: Int
}

/// A stored file and the instance it belongs to.
public struct IndexedFile: Sendable, Equatable {
    public var sopInstanceUID: String
    public var file: StoredFile
}
