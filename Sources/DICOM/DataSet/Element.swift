/// One data element: tag, VR and value, plus what is needed to write it back exactly as it was read.
public struct Element: Equatable, Sendable {
    public var tag: Tag
    public var vr: VR
    public var value: Value
    /// Encoded with the undefined length 0xFFFFFFFF (sequences, UN sequences, encapsulated pixel data).
    public var undefinedLength: Bool

    public init(tag: Tag, vr: VR, value: Value, undefinedLength: Bool = false) {
        self.tag = tag
        self.vr = vr
        self.value = value
        self.undefinedLength = undefinedLength
    }

    public init(tag: Tag, vr: VR, bytes: [UInt8]) {
        self.init(tag: tag, vr: vr, value: .bytes(bytes))
    }

    /// The value's raw bytes (little endian), empty for sequences and fragments.
    public var bytes: [UInt8] {
        if case let .bytes(bytes) = value { return bytes }
        return []
    }

    public var items: [Item] {
        if case let .items(items) = value { return items }
        return []
    }

    public var fragments: Fragments? {
        if case let .fragments(fragments) = value { return fragments }
        return nil
    }
}

/// What an element holds.
public enum Value: Equatable, Sendable {
    /// The encoded value, in little-endian byte order.
    case bytes([UInt8])
    /// The items of a sequence (SQ, or UN of undefined length, whose items are Implicit VR Little Endian).
    case items([Item])
    /// Encapsulated pixel data: the basic offset table and the fragments (PS3.5 A.4).
    case fragments(Fragments)
}

/// One item of a sequence.
public struct Item: Equatable, Sendable {
    public var dataSet: DataSet
    public var undefinedLength: Bool

    public init(_ dataSet: DataSet, undefinedLength: Bool = false) {
        self.dataSet = dataSet
        self.undefinedLength = undefinedLength
    }
}

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
