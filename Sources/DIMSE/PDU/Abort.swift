
/// A-ABORT (PS3.8 9.3.8): source 0 service user, 2 service provider.
public struct Abort: Equatable, Sendable {
    public var source: UInt8
    public var reason: UInt8

    public init(source: UInt8, reason: UInt8) {
        self.source = source
        self.reason = reason
    }

    public static let user = Abort(source: 0, reason: 0)
    public static let unrecognizedPDU = Abort(source: 2, reason: 1)
    public static let unexpectedPDU = Abort(source: 2, reason: 2)
    public static let invalidParameter = Abort(source: 2, reason: 6)
}
