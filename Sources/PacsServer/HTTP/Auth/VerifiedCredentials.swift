import CCrypto
import Foundation
import Synchronization

/// Remembers recently verified Basic credentials, so a client sending them with every request does not
/// pay for the slow password hash every time. Keyed by a hash of user, password and stored hash: a
/// password change or removal invalidates the entry.
final class VerifiedCredentials: Sendable {
    private let entries = Mutex<[String: Date]>([:])
    private let lifetime: TimeInterval = 300

    func check(_ user: UsersPolicy.User, password: String) -> Bool {
        var digest = [UInt8](repeating: 0, count: 32)
        let material = Array("\(user.name)\u{0}\(password)\u{0}\(user.passwordHash.encoded)".utf8)
        CCrypto.SHA256(material, material.count, &digest)
        let key = Data(digest).base64EncodedString()
        let now = Date()
        if entries.withLock({ $0[key].map { $0 > now } ?? false }) { return true }
        guard user.passwordHash.verify(password) else { return false }
        entries.withLock { entries in
            if entries.count > 10_000 { entries = entries.filter { $0.value > now } }
            entries[key] = now.addingTimeInterval(lifetime)
        }
        return true
    }
}
