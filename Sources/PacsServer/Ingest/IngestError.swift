import DICOM
import Tiering

/// Why an instance was not stored. Each case maps to a DIMSE status and an HTTP answer later.
public enum IngestError: Error, Sendable, CustomStringConvertible {
    /// The bytes are not a readable DICOM dataset.
    case malformed(DICOMError)
    /// A different object with this SOP Instance UID is already stored: the new one was held aside (`ConflictHold`).
    case conflict(sopInstanceUID: String, difference: String, held: Int64)
    /// The dataset's SOP Class UID is not the one the request announced.
    case classMismatch(requested: String, dataSet: String)
    /// The dataset's SOP Instance UID is not the one the request announced.
    case instanceMismatch(requested: String, dataSet: String)
    /// The file could not be written (disk full, read-only, I/O error).
    case storage(StoreError)
    /// The index could not record it.
    case index(String)

    public var description: String {
        switch self {
        case let .malformed(error): return "cannot be read as DICOM: \(error)"
        case let .conflict(uid, difference, held):
            return "conflict held aside as \(held): SOP Instance UID \(uid) is stored with other content (\(difference)); "
                + "the stored instance is unchanged (pacs conflict show \(held))"
        case let .classMismatch(requested, dataSet): return "the dataset's SOP Class UID \(dataSet) is not the announced \(requested)"
        case let .instanceMismatch(requested, dataSet): return "SOP Instance UID differs from the request's: dataset \(dataSet), request \(requested)"
        case let .storage(error): return "could not be stored: \(error)"
        case let .index(message): return "could not be indexed: \(message)"
        }
    }
}
