/// The reading workflow of each study: its diagnosis status with its history, and its notes, annotations and report.
public protocol DiagnosisIndex: Sendable {
    /// Changes a study's status and records who, when and why, in one transaction; the rule is checked
    /// inside it, so two changes cannot race past it.
    func changeStatus(studyInstanceUID: String, to status: DiagnosisStatus, by user: String, reason: String?,
                      allowBackwards: Bool, now: Double) throws -> StatusChange
    func statusHistory(studyInstanceUID: String) throws -> [StatusChange]
    /// A study's diagnosis status; nil for an unknown study. A stored status that is none of the five is an error
    /// (`UnreadableStatus`), never taken for another.
    func status(studyInstanceUID: String) throws -> DiagnosisStatus?
    /// Records a revision of a note, annotation or report (a new item when `entry.item` is empty) and raises
    /// the study's status to the kind's, in one transaction; returns the entry as recorded.
    func addDiagnostic(_ entry: DiagnosticEntry, studyInstanceUID: String) throws -> DiagnosticEntry
    /// A study's diagnostic information: the latest revision of each item, or every revision with `history`.
    func diagnostics(studyInstanceUID: String, history: Bool) throws -> [DiagnosticEntry]
}
