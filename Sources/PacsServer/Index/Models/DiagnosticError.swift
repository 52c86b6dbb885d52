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
