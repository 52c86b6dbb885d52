
/// A-ASSOCIATE-RJ (PS3.8 9.3.4): result, source and reason as the standard numbers them.
public struct AssociateReject: Equatable, Sendable, Error, CustomStringConvertible {
    public var permanent: Bool
    public var source: UInt8
    public var reason: UInt8

    public init(permanent: Bool = true, source: UInt8, reason: UInt8) {
        self.permanent = permanent
        self.source = source
        self.reason = reason
    }

    public static let applicationContextNotSupported = AssociateReject(source: 1, reason: 2)
    public static let callingAENotRecognized = AssociateReject(source: 1, reason: 3)
    public static let calledAENotRecognized = AssociateReject(source: 1, reason: 7)

    public var description: String {
        switch (source, reason) {
        case (1, 2): return "application context name not supported"
        case (1, 3): return "calling AE title not recognized"
        case (1, 7): return "called AE title not recognized"
        case (2, 2): return "protocol version not supported"
        default: return "rejected (source \(source), reason \(reason))"
        }
    }
}
