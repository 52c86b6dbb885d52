
/// Why bytes on the wire are not a valid PDU: the association is aborted and the reason logged.
public enum PDUError: Error, Equatable, Sendable, CustomStringConvertible {
    case unknownType(UInt8)
    case tooLong(type: UInt8, length: UInt32, limit: Int)
    case malformed(String)

    public var description: String {
        switch self {
        case let .unknownType(type): return "unknown PDU type 0x\(String(type, radix: 16))"
        case let .tooLong(type, length, limit): return "PDU type 0x\(String(type, radix: 16)) of \(length) bytes exceeds the limit of \(limit)"
        case let .malformed(what): return "malformed PDU: \(what)"
        }
    }
}
