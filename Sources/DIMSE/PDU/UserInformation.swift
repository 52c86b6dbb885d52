
public struct UserInformation: Equatable, Sendable {
    /// The largest P-DATA-TF variable field the sender accepts; 0 for no limit.
    public var maximumLength: UInt32
    public var implementationClassUID: String
    public var implementationVersionName: String?
    public var roles: [RoleSelection]

    public init(maximumLength: UInt32, implementationClassUID: String, implementationVersionName: String? = nil, roles: [RoleSelection] = []) {
        self.maximumLength = maximumLength
        self.implementationClassUID = implementationClassUID
        self.implementationVersionName = implementationVersionName
        self.roles = roles
    }
}
