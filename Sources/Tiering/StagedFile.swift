import Foundation
import Glibc

/// A file written and fsynced in a staging folder, waiting to be renamed to `relativePath`.
public struct StagedFile: Sendable, Equatable {
    public let stagingURL: URL
    public let relativePath: String
    public let size: Int
    public let sha256: String

    /// Staging files are named after their destination (slashes escaped) plus a unique token, so a
    /// recovery can tell where each belongs.
    static func stagingName(for relativePath: String, token: String) -> String {
        relativePath.replacingOccurrences(of: "/", with: "%") + "~" + token
    }

    /// The destination a staging file was meant for.
    public static func destination(ofStagingName name: String) -> String? {
        guard let tilde = name.lastIndex(of: "~") else { return nil }
        return name[..<tilde].replacingOccurrences(of: "%", with: "/")
    }
}
