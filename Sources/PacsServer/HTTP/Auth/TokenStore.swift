import CCrypto
import Foundation
import Synchronization

/// Short-lived bearer tokens issued by `POST /auth/token`, held in memory (a restart logs everyone out).
public final class TokenStore: Sendable {
    private let tokens = Mutex<[String: (user: String, expires: Date)]>([:])

    public init() {}

    public func issue(for user: String, lifetime: TimeInterval, now: Date = Date()) -> String {
        var bytes = [UInt8](repeating: 0, count: 32)
        precondition(RAND_bytes(&bytes, Int32(bytes.count)) == 1, "the system's random generator failed")
        let token = bytes.map { String(format: "%02x", $0) }.joined()
        tokens.withLock { tokens in
            tokens = tokens.filter { $0.value.expires > now }
            tokens[token] = (user, now.addingTimeInterval(lifetime))
        }
        return token
    }

    /// The user a token was issued to, if it has not expired.
    public func user(for token: String, now: Date = Date()) -> String? {
        tokens.withLock { tokens in
            guard let entry = tokens[token] else { return nil }
            guard entry.expires > now else {
                tokens.removeValue(forKey: token)
                return nil
            }
            return entry.user
        }
    }
}
