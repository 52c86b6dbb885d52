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
