
/// What a remote AE is, which decides what it receives.
public enum RemoteRole: String, Sendable, Codable, CaseIterable {
    case modality, reading, referring, teleradiology, peer

    public var defaultVersion: String {
        switch self {
        case .reading, .peer, .modality: return "V1"
        case .referring: return "V2"
        case .teleradiology: return "V3"
        }
    }

    /// The row of the access matrix that applies to it.
    public var accessRole: Role {
        switch self {
        case .reading: return .reading
        case .referring, .modality: return .referring
        case .teleradiology: return .teleradiology
        case .peer: return .admin
        }
    }
}
