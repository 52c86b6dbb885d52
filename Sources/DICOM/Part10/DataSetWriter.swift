/// Encodes a dataset in a little-endian transfer syntax. Values are written as they are held, so a dataset
/// read and written unchanged reproduces its elements byte for byte (lengths included).
public enum DataSetWriter {
    public static func encode(_ dataSet: DataSet, explicitVR: Bool) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(dataSet.elements.reduce(0) { $0 + 12 + $1.bytes.count })
        try append(dataSet, to: &out, explicitVR: explicitVR)
        return out
    }

    static func append(_ dataSet: DataSet, to out: inout [UInt8], explicitVR: Bool) throws {
        for element in dataSet.elements {
            try append(element, to: &out, explicitVR: explicitVR)
        }
    }

    static func append(_ element: Element, to out: inout [UInt8], explicitVR: Bool) throws {
        switch element.value {
        case let .bytes(bytes):
            try header(element.tag, element.vr, length: bytes.count, explicitVR: explicitVR, to: &out)
            out.append(contentsOf: bytes)
        case let .items(items):
            // The items of a UN sequence are Implicit VR Little Endian whatever the enclosing syntax (PS3.5 6.2.2).
            let itemsExplicit = element.vr == .UN ? false : explicitVR
            var body: [UInt8] = []
            for item in items {
                var content: [UInt8] = []
                try append(item.dataSet, to: &content, explicitVR: itemsExplicit)
                tag(.item, to: &body)
                uint32(item.undefinedLength ? 0xFFFF_FFFF : UInt32(content.count), to: &body)
                body.append(contentsOf: content)
                if item.undefinedLength { delimiter(.itemDelimitationItem, to: &body) }
            }
            let length = element.undefinedLength ? Int(UInt32.max) : body.count
            try header(element.tag, element.vr, length: length, explicitVR: explicitVR, to: &out)
            out.append(contentsOf: body)
            if element.undefinedLength { delimiter(.sequenceDelimitationItem, to: &out) }
        case let .fragments(fragments):
            try header(element.tag, element.vr, length: Int(UInt32.max), explicitVR: explicitVR, to: &out)
            for part in [fragments.offsetTable] + fragments.fragments {
                tag(.item, to: &out)
                uint32(UInt32(part.count), to: &out)
                out.append(contentsOf: part)
            }
            delimiter(.sequenceDelimitationItem, to: &out)
        }
    }

    private static func header(_ elementTag: Tag, _ vr: VR, length: Int, explicitVR: Bool, to out: inout [UInt8]) throws {
        tag(elementTag, to: &out)
        guard length <= Int(UInt32.max) else { throw DICOMError.valueTooLong(tag: elementTag, vr: vr, length: length) }
        if explicitVR {
            out.append(contentsOf: vr.rawValue.utf8)
            if vr.hasLongLength {
                out.append(contentsOf: [0, 0])
                uint32(UInt32(length), to: &out)
            } else {
                guard length <= 0xFFFF else { throw DICOMError.valueTooLong(tag: elementTag, vr: vr, length: length) }
                out.append(UInt8(length & 0xFF))
                out.append(UInt8(length >> 8))
            }
        } else {
            uint32(UInt32(length), to: &out)
        }
    }

    private static func delimiter(_ delimiterTag: Tag, to out: inout [UInt8]) {
        tag(delimiterTag, to: &out)
        uint32(0, to: &out)
    }

    private static func tag(_ tag: Tag, to out: inout [UInt8]) {
        out.append(UInt8(tag.group & 0xFF)); out.append(UInt8(tag.group >> 8))
        out.append(UInt8(tag.element & 0xFF)); out.append(UInt8(tag.element >> 8))
    }

    private static func uint32(_ value: UInt32, to out: inout [UInt8]) {
        out.append(UInt8(value & 0xFF)); out.append(UInt8((value >> 8) & 0xFF))
        out.append(UInt8((value >> 16) & 0xFF)); out.append(UInt8(value >> 24))
    }
}
