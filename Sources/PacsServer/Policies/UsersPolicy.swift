import Tiering

/// The users of the HTTP service and their roles (`Policies/users.yaml`); credentials only as salted hashes.
public struct UsersPolicy: Sendable, Equatable {
    public struct User: Sendable, Equatable {
        public var name: String
        public var role: Role
        public var passwordHash: PasswordHash
        /// Where the user usually works (delivery.yaml places); a request may say otherwise.
        public var place: String? = nil
    }

    public var users: [User]
    /// How long a bearer token from POST /auth/token stays valid, in seconds.
    public var tokenLifetime: Double

    public func user(named name: String) -> User? {
        users.first { $0.name == name }
    }
}

extension UsersPolicy {
    static func read(_ yaml: YAMLReader) -> UsersPolicy {
        var users: [User] = []
        for item in yaml.list("users") ?? [] {
            let entry = yaml.reader(for: item)
            let name = entry.string("name", required: true) ?? ""
            if users.contains(where: { $0.name == name }) { entry.problem("name", "\(name) is listed twice") }
            let roleText = entry.string("role", required: true) ?? ""
            let role = Role(rawValue: roleText)
            if role == nil, !roleText.isEmpty {
                entry.problem("role", "\"\(roleText)\" is not a role: use \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let hashText = entry.string("password", required: true) ?? ""
            let hash = PasswordHash(encoded: hashText)
            if hash == nil, !hashText.isEmpty {
                entry.problem("password", "is not a pbkdf2-sha256 hash: set passwords with `pacs user add`, never in clear text")
            }
            let place = entry.string("place")
            if let place, !DeliveryPolicy.places.contains(place) {
                entry.problem("place", "\"\(place)\" is not a place: use \(DeliveryPolicy.places.joined(separator: ", "))")
            }
            entry.finish()
            if let role, let hash, !name.isEmpty { users.append(User(name: name, role: role, passwordHash: hash, place: place)) }
        }
        var lifetime = 900.0
        if let text = yaml.string("token_lifetime") {
            if let seconds = Quantity.seconds(text), seconds >= 1, seconds <= 86_400 {
                lifetime = seconds
            } else {
                yaml.problem("token_lifetime", "\"\(text)\" is not a duration from 1s to 24h: write e.g. 15m")
            }
        }
        yaml.finish()
        return UsersPolicy(users: users, tokenLifetime: lifetime)
    }
}
