import CCrypto
import Foundation

/// A salted PBKDF2-HMAC-SHA256 password hash, stored as `pbkdf2-sha256$ITERATIONS$SALT$HASH` (base64).
public struct PasswordHash: Sendable, Equatable {
    /// OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256.
    public static let defaultIterations = 600_000

    public let iterations: Int
    public let salt: [UInt8]
    public let hash: [UInt8]

    public init?(encoded: String) {
        let parts = encoded.split(separator: "$").map(String.init)
        guard parts.count == 4, parts[0] == "pbkdf2-sha256", let iterations = Int(parts[1]), iterations >= 1000,
              let salt = Data(base64Encoded: parts[2]), let hash = Data(base64Encoded: parts[3]), hash.count == 32 else { return nil }
        self.iterations = iterations
        self.salt = Array(salt)
        self.hash = Array(hash)
    }

    /// Hashes a new password with a fresh random salt.
    public init(password: String, iterations: Int = defaultIterations) {
        var salt = [UInt8](repeating: 0, count: 16)
        precondition(RAND_bytes(&salt, Int32(salt.count)) == 1, "the system's random generator failed")
        self.iterations = iterations
        self.salt = salt
        hash = Self.derive(password, salt: salt, iterations: iterations)
    }

    public var encoded: String {
        "pbkdf2-sha256$\(iterations)$\(Data(salt).base64EncodedString())$\(Data(hash).base64EncodedString())"
    }

    /// Checks a password in constant time with respect to the stored hash.
    public func verify(_ password: String) -> Bool {
        let candidate = Self.derive(password, salt: salt, iterations: iterations)
        return zip(candidate, hash).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    private static func derive(_ password: String, salt: [UInt8], iterations: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        let bytes = Array(password.utf8)
        bytes.withUnsafeBufferPointer { pass in
            pass.withMemoryRebound(to: CChar.self) { chars in
                _ = PKCS5_PBKDF2_HMAC(chars.baseAddress, Int32(bytes.count), salt, Int32(salt.count), Int32(iterations),
                                      EVP_sha256(), Int32(out.count), &out)
            }
        }
        return out
    }
}
