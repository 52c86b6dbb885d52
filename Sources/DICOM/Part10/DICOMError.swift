/// Why bytes could not be read or written as DICOM. Every case says where, so a person can find the fault.
public enum DICOMError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Fewer bytes than the structure needs: the file was cut short.
    case truncated(offset: Int, tag: Tag?, needed: Int, available: Int)
    /// A length field points past the end of its enclosing data.
    case lengthPastEnd(offset: Int, tag: Tag, length: UInt32, available: Int)
    /// Where an item (FFFE,E000) or a sequence delimiter was required, something else stood.
    case badItem(offset: Int, sequence: Tag, found: Tag)
    /// An undefined length where the standard does not allow one.
    case undefinedLength(offset: Int, tag: Tag)
    case unknownVR(offset: Int, tag: Tag, bytes: String)
    case nestingTooDeep(offset: Int, tag: Tag)
    case notDICOM(reason: String)
    case unknownTransferSyntax(uid: String)
    case missingAttribute(Tag)
    case deflate(reason: String)
    case valueTooLong(tag: Tag, vr: VR, length: Int)
    /// A file meta element (group 0002) after the meta information ended: the meta information is damaged.
    case metaInDataSet(start: Int, tag: Tag)

    public var description: String {
        switch self {
        case let .truncated(offset, tag, needed, available):
            return "truncated at byte \(offset)\(tag.map { " in \(name($0))" } ?? ""): needs \(needed) bytes, \(available) left"
        case let .lengthPastEnd(offset, tag, length, available):
            return "at byte \(offset), \(name(tag)) has length \(length) but only \(available) bytes remain"
        case let .badItem(offset, sequence, found):
            return "at byte \(offset) in sequence \(name(sequence)): expected an item (FFFE,E000) or sequence delimiter, found \(found)"
        case let .undefinedLength(offset, tag):
            return "at byte \(offset), \(name(tag)) has an undefined length, which its VR does not allow"
        case let .unknownVR(offset, tag, bytes):
            return "at byte \(offset), \(name(tag)) has an unknown VR \"\(bytes)\""
        case let .nestingTooDeep(offset, tag):
            return "at byte \(offset), \(name(tag)) nests sequences too deeply"
        case let .notDICOM(reason):
            return "not a DICOM file: \(reason)"
        case let .unknownTransferSyntax(uid):
            return "unknown transfer syntax \(uid)"
        case let .missingAttribute(tag):
            return "missing required attribute \(name(tag))"
        case let .deflate(reason):
            return "deflated dataset could not be inflated: \(reason)"
        case let .valueTooLong(tag, vr, length):
            return "\(name(tag)) is \(length) bytes, too long for VR \(vr.rawValue)"
        case let .metaInDataSet(start, tag):
            return "the dataset starting at byte \(start) holds the file meta element \(name(tag)): the file meta information is damaged"
        }
    }

    private func name(_ tag: Tag) -> String {
        tag.keyword.map { "\(tag) \($0)" } ?? "\(tag)"
    }
}
