
/// A remote application entity we know.
public struct RemoteAE: Sendable, Equatable, Codable {
    public var title: String
    public var host: String
    public var port: Int
    public var role: RemoteRole
    /// The version C-GET and C-MOVE send it, when not its role's default.
    public var version: String?

    public init(title: String, host: String, port: Int, role: RemoteRole, version: String? = nil) {
        self.title = title
        self.host = host
        self.port = port
        self.role = role
        self.version = version
    }

    /// The version this AE receives.
    public var retrievedVersion: String { version ?? role.defaultVersion }
}

extension RemoteAE {
    /// The AE as the access gate sees callers: by the access role its network role maps to.
    var caller: Caller { Caller(name: title, role: role.accessRole) }
}
