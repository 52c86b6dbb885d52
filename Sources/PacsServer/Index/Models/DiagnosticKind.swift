/// What a reading doctor records about a study; each kind raises the study to its status when written.
public enum DiagnosticKind: String, Sendable, Codable, CaseIterable {
    case note, annotation, report

    /// The diagnosis status the study reaches when this kind of information exists (DOMAIN.md).
    public var status: DiagnosisStatus {
        switch self {
        case .note: return .notes
        case .annotation: return .annotations
        case .report: return .report
        }
    }

    /// The reason written into the status history when an entry of this kind raises the status.
    var statusReason: String {
        switch self {
        case .note: return "reading note written"
        case .annotation: return "annotation attached"
        case .report: return "report drafted"
        }
    }
}
