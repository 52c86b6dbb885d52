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
