/// An attribute tag: group and element, printed as `(0010,0010)`.
public struct Tag: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let group: UInt16
    public let element: UInt16

    public init(_ group: UInt16, _ element: UInt16) {
        self.group = group
        self.element = element
    }

    public init(_ value: UInt32) {
        self.init(UInt16(value >> 16), UInt16(value & 0xFFFF))
    }

    /// The tag as one number, group in the high half: orders tags as the standard does.
    public var value: UInt32 { UInt32(group) << 16 | UInt32(element) }

    public static func < (lhs: Tag, rhs: Tag) -> Bool { lhs.value < rhs.value }

    public var isPrivate: Bool { group & 1 == 1 }
    /// A private creator element (gggg,0010-00FF) of an odd group.
    public var isPrivateCreator: Bool { isPrivate && element >= 0x10 && element <= 0xFF }
    public var isGroupLength: Bool { element == 0 }

    /// `(0010,0010)`
    public var description: String { "(\(hex(group)),\(hex(element)))" }
    /// `00100010`, the form DICOM JSON uses for keys.
    public var hexString: String { hex(group) + hex(element) }

    /// Parses the DICOM JSON key form `00100010`.
    public init?(hexString: String) {
        guard hexString.utf8.count == 8, let value = UInt32(hexString, radix: 16) else { return nil }
        self.init(value)
    }

    /// The keyword of a standard attribute, such as `PatientName`, or nil for private and unknown tags.
    public var keyword: String? { DataDictionary.entry(for: self)?.keyword }
}

@inline(__always)
func hex(_ value: UInt16) -> String {
    let digits = Array("0123456789ABCDEF".utf8)
    var out = [UInt8](repeating: 0, count: 4)
    var v = value
    for i in stride(from: 3, through: 0, by: -1) {
        out[i] = digits[Int(v & 0xF)]
        v >>= 4
    }
    return String(decoding: out, as: UTF8.self)
}
