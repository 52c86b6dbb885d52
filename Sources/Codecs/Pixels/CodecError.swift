/// Why pixel data could not be encoded or decoded; the message says what and why.
public enum CodecError: Error, Equatable, Sendable, Codable, CustomStringConvertible {
    case unsupported(String)
    case corrupt(String)
    case library(String)
    case mismatch(String)

    public var description: String {
        switch self {
        case let .unsupported(what): return "unsupported: \(what)"
        case let .corrupt(what): return "corrupt compressed data: \(what)"
        case let .library(what): return "codec library error: \(what)"
        case let .mismatch(what): return "verification failed: \(what)"
        }
    }
}
