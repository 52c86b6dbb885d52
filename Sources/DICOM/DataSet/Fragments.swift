/// Encapsulated pixel data as stored: the basic offset table item and the fragment items.
public struct Fragments: Equatable, Sendable {
    public var offsetTable: [UInt8]
    public var fragments: [[UInt8]]

    public init(offsetTable: [UInt8] = [], fragments: [[UInt8]]) {
        self.offsetTable = offsetTable
        self.fragments = fragments
    }

    /// Byte size of the encapsulated stream as written: every item header plus the delimiter.
    public var encodedLength: Int {
        8 + offsetTable.count + fragments.reduce(0) { $0 + 8 + $1.count } + 8
    }
}
