import DICOM

/// What recording an instance did.
public enum RecordOutcome: Sendable, Equatable {
    case recorded
    /// An instance with this SOP Instance UID is already indexed; nothing was changed.
    case exists(StoredFile)
}
