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

/// One revision of one piece of diagnostic information. Entries are never changed in place: an edit is a new
/// revision of the same item, a retraction a revision without a body, so the history shows who wrote what when.
public struct DiagnosticEntry: Sendable, Equatable, Codable {
    /// Names the item across its revisions (a note, an annotation, or `report`).
    public var item: String
    public var kind: DiagnosticKind
    public var revision: Int
    /// Annotations belong to one instance (and frame).
    public var sopInstanceUID: String?
    public var frame: Int?
    /// The text of a note or report; for an annotation its shapes as JSON. Nil for a retraction.
    public var body: String?
    public var author: String
    /// Seconds since 1970.
    public var at: Double

    public init(item: String, kind: DiagnosticKind, revision: Int, sopInstanceUID: String? = nil, frame: Int? = nil, body: String?,
                author: String, at: Double) {
        self.item = item
        self.kind = kind
        self.revision = revision
        self.sopInstanceUID = sopInstanceUID
        self.frame = frame
        self.body = body
        self.author = author
        self.at = at
    }
}

/// Why diagnostic information was refused.
public enum DiagnosticError: Error, Equatable, CustomStringConvertible {
    case noSuchStudy(String)
    case noSuchItem(String)
    case kindMismatch(item: String, is: DiagnosticKind)
    case instanceNotInStudy(String)

    public var description: String {
        switch self {
        case let .noSuchStudy(uid): return "no study \(uid)"
        case let .noSuchItem(item): return "the study has no diagnostic item \(item)"
        case let .kindMismatch(item, kind): return "item \(item) is a \(kind.rawValue)"
        case let .instanceNotInStudy(uid): return "instance \(uid) is not part of this study"
        }
    }
}
