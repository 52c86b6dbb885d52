/// Why a version exists.
public enum Purpose: String, Sendable, CaseIterable, Codable {
    case diagnosis, reference, comparison
}
