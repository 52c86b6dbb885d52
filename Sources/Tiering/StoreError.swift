/// Why a file could not be stored or read on a tier; each case names the path and what to do.
public enum StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    case diskFull(path: String)
    case readOnly(path: String)
    case io(path: String, operation: String, errno: Int32)
    case missing(path: String)

    public var description: String {
        switch self {
        case let .diskFull(path): return "no space left on the device holding \(path): free space or move data to the archive tier"
        case let .readOnly(path): return "\(path) is on a read-only file system"
        case let .io(path, operation, code): return "\(operation) \(path) failed: \(String(cString: strerror(code)))"
        case let .missing(path): return "\(path) does not exist"
        }
    }

    static func from(errno code: Int32, path: String, operation: String) -> StoreError {
        switch code {
        case ENOSPC, EDQUOT: return .diskFull(path: path)
        case EROFS: return .readOnly(path: path)
        case ENOENT: return .missing(path: path)
        default: return .io(path: path, operation: operation, errno: code)
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
