
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
