/// Parses a dataset from bytes. Every length is checked against the bytes that remain before anything is
/// sliced, so malformed input ends in a `DICOMError` naming the byte offset and the tag, never in a crash.
/// Values are kept as encoded; big-endian values are swapped to little endian as they are read.
struct DataSetReader {
    static let maxDepth = 32
    private static let undefined: UInt32 = 0xFFFF_FFFF

    let bytes: [UInt8]
    let explicitVR: Bool
    let bigEndian: Bool
    /// Offset of `bytes[0]` in the file, for error messages.
    let baseOffset: Int
    var position: Int
    /// Where the top-level Pixel Data lies in `bytes`, once read.
    private(set) var pixelData: PixelDataLocation?
    /// The top-level Pixel Data is only located, not copied into the dataset (which then lacks it).
    let skipsPixelData: Bool

    init(bytes: [UInt8], position: Int = 0, explicitVR: Bool, bigEndian: Bool = false, baseOffset: Int = 0, skipsPixelData: Bool = false) {
        self.bytes = bytes
        self.position = position
        self.explicitVR = explicitVR
        self.bigEndian = bigEndian
        self.baseOffset = baseOffset
        self.skipsPixelData = skipsPixelData
    }

    /// Reads elements up to `end`, or, with `untilItemDelimiter`, up to the item delimiter that closes an
    /// undefined-length item. `onlyGroup` stops before the first element of another group (file meta).
    mutating func readDataSet(end: Int, untilItemDelimiter: Bool = false, onlyGroup: UInt16? = nil,
                              depth: Int = 0, enclosing: Tag? = nil) throws -> DataSet {
        var elements: [Element] = []
        var ordered = true
        while position < end {
            if let group = onlyGroup, try peekTag(end: end).group != group { break }
            if !untilItemDelimiter, onlyGroup == nil, depth == 0, bytes[position..<end].allSatisfy({ $0 == 0 }) {
                position = end  // trailing zero padding after the last element, as some writers leave
                break
            }
            let start = position
            let tag = try readTag(end: end, context: enclosing)
            if tag.group == 0xFFFE {
                _ = try readUInt32(end: end, context: tag)
                if tag == .itemDelimitationItem, untilItemDelimiter { return DataSet(checkedOrder: elements, ordered: ordered) }
                if tag == .sequenceDelimitationItem, depth == 0 { continue }  // stray delimiter at top level: tolerated
                throw DICOMError.badItem(offset: baseOffset + start, sequence: enclosing ?? tag, found: tag)
            }
            guard let element = try readElement(tag: tag, start: start, end: end, depth: depth, previous: elements) else { continue }
            if let last = elements.last, last.tag >= tag { ordered = false }
            elements.append(element)
        }
        if untilItemDelimiter {
            throw DICOMError.truncated(offset: baseOffset + position, tag: enclosing, needed: 8, available: end - position)
        }
        return DataSet(checkedOrder: elements, ordered: ordered)
    }

    /// The element, or nil for a top-level Pixel Data that is only located (`skipsPixelData`).
    private mutating func readElement(tag: Tag, start: Int, end: Int, depth: Int, previous: [Element]) throws -> Element? {
        var vr: VR
        let length: UInt32
        if explicitVR {
            try need(2, end: end, tag: tag)
            guard let explicit = VR(byte0: bytes[position], byte1: bytes[position + 1]) else {
                let text = String(decoding: bytes[position..<position + 2].map { (0x20..<0x7F).contains($0) ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
                throw DICOMError.unknownVR(offset: baseOffset + position, tag: tag, bytes: text)
            }
            vr = explicit
            position += 2
            if vr.hasLongLength {
                try need(2, end: end, tag: tag)
                position += 2
                length = try readUInt32(end: end, context: tag)
            } else {
                length = UInt32(try readUInt16(end: end, context: tag))
            }
        } else {
            length = try readUInt32(end: end, context: tag)
            vr = Self.implicitVR(for: tag, previous: previous)
        }

        if length == Self.undefined {
            if tag == .pixelData, vr == .OB || vr == .OW || vr == .UN {
                let skipped = depth == 0 && skipsPixelData
                var items: [(start: Int, length: Int)] = []
                let fragments = try readFragments(end: end, tag: tag, items: &items, copying: !skipped)
                if depth == 0 {
                    pixelData = PixelDataLocation(elementOffset: start, valueOffset: items.first?.start ?? position, valueLength: 0,
                                                  fragmentOffsets: items.dropFirst().map(\.start), fragmentLengths: items.dropFirst().map(\.length))
                }
                return skipped ? nil : Element(tag: tag, vr: vr == .UN ? .OB : vr, value: .fragments(fragments), undefinedLength: true)
            }
            guard vr == .SQ || vr == .UN || !explicitVR else {
                throw DICOMError.undefinedLength(offset: baseOffset + start, tag: tag)
            }
            if !explicitVR, vr != .SQ { vr = .SQ }  // an undefined length in implicit VR can only be a sequence
            let items = try readItems(end: end, sequenceEnd: nil, tag: tag, depth: depth, implicitItems: vr == .UN)
            return Element(tag: tag, vr: vr, value: .items(items), undefinedLength: true)
        }

        let available = end - position
        guard Int(length) <= available else {
            throw DICOMError.lengthPastEnd(offset: baseOffset + start, tag: tag, length: length, available: available)
        }
        let valueEnd = position + Int(length)
        if vr == .SQ {
            let items = try readItems(end: valueEnd, sequenceEnd: valueEnd, tag: tag, depth: depth, implicitItems: false)
            position = valueEnd
            return Element(tag: tag, vr: vr, value: .items(items))
        }
        if depth == 0, tag == .pixelData {
            pixelData = PixelDataLocation(elementOffset: start, valueOffset: position, valueLength: Int(length), fragmentOffsets: [], fragmentLengths: [])
            if skipsPixelData {
                position = valueEnd
                return nil
            }
        }
        var value = Array(bytes[position..<valueEnd])
        position = valueEnd
        if bigEndian, vr.wordSize > 1 { Self.swapWords(&value, size: vr.wordSize) }
        return Element(tag: tag, vr: vr, bytes: value)
    }

    /// Items of a sequence: up to `sequenceEnd` for a defined length, else up to the sequence delimiter.
    private mutating func readItems(end: Int, sequenceEnd: Int?, tag: Tag, depth: Int, implicitItems: Bool) throws -> [Item] {
        guard depth < Self.maxDepth else { throw DICOMError.nestingTooDeep(offset: baseOffset + position, tag: tag) }
        var items: [Item] = []
        let limit = sequenceEnd ?? end
        while sequenceEnd == nil || position < limit {
            let start = position
            let itemTag = try readTag(end: limit, context: tag)
            let length = try readUInt32(end: limit, context: tag)
            if itemTag == .sequenceDelimitationItem, sequenceEnd == nil { return items }
            guard itemTag == .item else {
                throw DICOMError.badItem(offset: baseOffset + start, sequence: tag, found: itemTag)
            }
            var nested = DataSetReader(bytes: bytes, position: position, explicitVR: implicitItems ? false : explicitVR,
                                       bigEndian: implicitItems ? false : bigEndian, baseOffset: baseOffset)
            if length == Self.undefined {
                let dataSet = try nested.readDataSet(end: limit, untilItemDelimiter: true, depth: depth + 1, enclosing: tag)
                items.append(Item(dataSet, undefinedLength: true))
            } else {
                guard Int(length) <= limit - position else {
                    throw DICOMError.lengthPastEnd(offset: baseOffset + start, tag: itemTag, length: length, available: limit - position)
                }
                let dataSet = try nested.readDataSet(end: position + Int(length), depth: depth + 1, enclosing: tag)
                items.append(Item(dataSet))
            }
            position = nested.position
        }
        return items
    }

    /// Encapsulated pixel data: the basic offset table item, fragment items, the sequence delimiter.
    /// `items` receives where each item's value starts and its length (the offset table's first); without
    /// `copying`, the values are only walked over (the fragments returned are empty).
    private mutating func readFragments(end: Int, tag: Tag, items: inout [(start: Int, length: Int)], copying: Bool) throws -> Fragments {
        var parts: [[UInt8]] = []
        while true {
            let start = position
            let itemTag = try readTag(end: end, context: tag)
            let length = try readUInt32(end: end, context: tag)
            if itemTag == .sequenceDelimitationItem { break }
            guard itemTag == .item else { throw DICOMError.badItem(offset: baseOffset + start, sequence: tag, found: itemTag) }
            guard length != Self.undefined else { throw DICOMError.undefinedLength(offset: baseOffset + start, tag: itemTag) }
            guard Int(length) <= end - position else {
                throw DICOMError.lengthPastEnd(offset: baseOffset + start, tag: itemTag, length: length, available: end - position)
            }
            items.append((position, Int(length)))
            if copying { parts.append(Array(bytes[position..<position + Int(length)])) }
            position += Int(length)
        }
        guard let offsetTable = parts.first else { return Fragments(fragments: []) }
        return Fragments(offsetTable: offsetTable, fragments: Array(parts.dropFirst()))
    }

    /// The VR an implicit-VR element takes: from the dictionary, with the standard's ambiguous cases
    /// resolved by the attributes already read (PixelRepresentation, BitsAllocated).
    private static func implicitVR(for tag: Tag, previous: [Element]) -> VR {
        if tag.isGroupLength { return .UL }
        if tag.isPrivateCreator { return .LO }
        guard let entry = DataDictionary.entry(for: tag) else { return .UN }
        guard entry.vrs.count > 1 else { return entry.vr }
        func previousValue(_ wanted: Tag) -> Int? {
            previous.last(where: { $0.tag == wanted }).flatMap { VR.US.numbers($0.bytes).first }.map { Int($0) }
        }
        if entry.vrs.contains(.SS), entry.vrs.contains(.US) {
            return previousValue(.pixelRepresentation) == 1 ? .SS : .US
        }
        if entry.vrs.contains(.OW), entry.vrs.contains(.OB) {
            return (previousValue(.bitsAllocated) ?? 16) > 8 ? .OW : .OB
        }
        return entry.vr
    }

    static func swapWords(_ value: inout [UInt8], size: Int) {
        var i = 0
        while i + size <= value.count {
            value[i..<i + size].reverse()
            i += size
        }
    }

    // MARK: Primitive reads

    private func need(_ count: Int, end: Int, tag: Tag?) throws {
        guard end - position >= count else {
            throw DICOMError.truncated(offset: baseOffset + position, tag: tag, needed: count, available: max(0, end - position))
        }
    }

    func peekTag(end: Int) throws -> Tag {
        var copy = self
        return try copy.readTag(end: end, context: nil)
    }

    mutating func readTag(end: Int, context: Tag?) throws -> Tag {
        let group = try readUInt16(end: end, context: context)
        let element = try readUInt16(end: end, context: context)
        return Tag(group, element)
    }

    mutating func readUInt16(end: Int, context: Tag?) throws -> UInt16 {
        try need(2, end: end, tag: context)
        let b0 = UInt16(bytes[position]), b1 = UInt16(bytes[position + 1])
        position += 2
        return bigEndian ? b0 << 8 | b1 : b1 << 8 | b0
    }

    mutating func readUInt32(end: Int, context: Tag?) throws -> UInt32 {
        try need(4, end: end, tag: context)
        var value: UInt32 = 0
        for i in 0..<4 {
            let byte = UInt32(bytes[position + i])
            value |= bigEndian ? byte << (8 * (3 - i)) : byte << (8 * i)
        }
        position += 4
        return value
    }
}

extension DataSet {
    /// Elements as read: kept as they are when in ascending order, else sorted (the last duplicate wins).
    init(checkedOrder elements: [Element], ordered: Bool) {
        if ordered {
            self.init(sorted: elements)
        } else {
            var byTag: [Tag: Element] = [:]
            for element in elements { byTag[element.tag] = element }
            self.init(Array(byTag.values))
        }
    }
}
