/// Where a study stands in the reading workflow (DOMAIN.md).
public enum DiagnosisStatus: Int, Sendable, CaseIterable, Comparable, Codable {
    case unread = 1, diagnosed, notes, annotations, report

    public var name: String {
        switch self {
        case .unread: return "unread"
        case .diagnosed: return "diagnosed"
        case .notes: return "notes"
        case .annotations: return "annotations"
        case .report: return "report"
        }
    }

    public init?(name: String) {
        guard let status = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = status
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}
