import NIOCore

/// One presentation data value: part (or all) of a command or dataset on one presentation context. Received, a PDV
/// comes in pieces as its bytes arrive (`PDUDecoder`); `isLast` is set on the piece that ends the command or dataset.
public struct PDV: Equatable, Sendable {
    public var contextID: UInt8
    public var isCommand: Bool
    public var isLast: Bool
    /// A view of the bytes as they were received (no copy).
    public var data: ByteBuffer

    public init(contextID: UInt8, isCommand: Bool, isLast: Bool, data: ByteBuffer) {
        self.contextID = contextID
        self.isCommand = isCommand
        self.isLast = isLast
        self.data = data
    }
}
