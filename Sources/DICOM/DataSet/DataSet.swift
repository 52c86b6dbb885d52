/// A DICOM dataset: elements ordered by tag. Values stay in their encoded form (little endian), so an
/// unchanged dataset writes back byte for byte; typed accessors decode on demand.
public struct DataSet: Equatable, Sendable {
    /// The elements in ascending tag order.
    public private(set) var elements: [Element]

    public init(_ elements: [Element] = []) {
        self.elements = elements.sorted { $0.tag < $1.tag }
    }

    /// Builds from elements the caller guarantees are already in ascending tag order (the reader's case).
    init(sorted elements: [Element]) {
        self.elements = elements
    }

    public var isEmpty: Bool { elements.isEmpty }

    public subscript(tag: Tag) -> Element? {
        index(of: tag).map { elements[$0] }
    }

    public func contains(_ tag: Tag) -> Bool { index(of: tag) != nil }

    /// Inserts or replaces the element with the same tag.
    public mutating func set(_ element: Element) {
        let position = insertionPoint(for: element.tag)
        if position < elements.count, elements[position].tag == element.tag {
            elements[position] = element
        } else {
            elements.insert(element, at: position)
        }
    }

    @discardableResult
    public mutating func remove(_ tag: Tag) -> Element? {
        guard let position = index(of: tag) else { return nil }
        return elements.remove(at: position)
    }

    private func index(of tag: Tag) -> Int? {
        let position = insertionPoint(for: tag)
        return position < elements.count && elements[position].tag == tag ? position : nil
    }

    private func insertionPoint(for tag: Tag) -> Int {
        var low = 0, high = elements.count
        while low < high {
            let mid = (low + high) / 2
            if elements[mid].tag < tag { low = mid + 1 } else { high = mid }
        }
        return low
    }

    // MARK: Reading values

    /// The dataset's Specific Character Set, or `inherited` (an enclosing dataset's) when it names none.
    public func characterSet(inherited: SpecificCharacterSet = .default) -> SpecificCharacterSet {
        guard let element = self[.specificCharacterSet] else { return inherited }
        return SpecificCharacterSet(term: String(decoding: element.bytes, as: UTF8.self))
    }

    /// The values of a string element, split at backslashes (unless single-valued text) and stripped of padding.
    public func strings(_ tag: Tag, characterSet: SpecificCharacterSet? = nil) -> [String] {
        guard let element = self[tag], case let .bytes(bytes) = element.value, !bytes.isEmpty else { return [] }
        return element.vr.textValues(bytes, characterSet: characterSet ?? self.characterSet())
    }

    /// The first value of a string element.
    public func string(_ tag: Tag) -> String? {
        strings(tag).first
    }

    /// The first value of a numeric element: binary integers (US, SS, UL, SL, …) or IS/DS text.
    public func int(_ tag: Tag) -> Int? {
        guard let element = self[tag] else { return nil }
        return element.vr.numbers(element.bytes).first.flatMap { Int(exactly: $0.rounded(.towardZero)) }
    }

    public func double(_ tag: Tag) -> Double? {
        guard let element = self[tag] else { return nil }
        return element.vr.numbers(element.bytes).first
    }

    // MARK: Writing values

    /// Sets a text value, padded to even length as its VR requires.
    public mutating func set(_ tag: Tag, _ vr: VR, _ text: String, characterSet: SpecificCharacterSet = .default) {
        var bytes = vr.usesCharacterSet ? characterSet.encode(text) : Array(text.utf8)
        if bytes.count % 2 == 1 { bytes.append(vr.paddingByte) }
        set(Element(tag: tag, vr: vr, bytes: bytes))
    }

    public mutating func set(_ tag: Tag, uint16 value: UInt16) {
        set(Element(tag: tag, vr: .US, bytes: [UInt8(value & 0xFF), UInt8(value >> 8)]))
    }

    public mutating func set(_ tag: Tag, uint32 value: UInt32) {
        set(Element(tag: tag, vr: .UL, bytes: withUnsafeBytes(of: value.littleEndian) { Array($0) }))
    }
}

extension VR {
    /// Splits and decodes the text of a string VR.
    func textValues(_ bytes: [UInt8], characterSet: SpecificCharacterSet) -> [String] {
        let decoder = usesCharacterSet ? characterSet : .latin1
        let parts: [ArraySlice<UInt8>] = isSingleValuedText
            ? [bytes[...]]
            : bytes.split(separator: UInt8(ascii: "\\"), omittingEmptySubsequences: false)
        return parts.map { part in
            var slice = part
            while let last = slice.last, last == 0x20 || last == 0 { slice.removeLast() }
            if self != .LT && self != .ST && self != .UT {
                while let first = slice.first, first == 0x20 { slice.removeFirst() }
            }
            return decoder.decode(slice)
        }
    }

    /// The numeric values of a binary numeric VR or of IS/DS text; empty for other VRs.
    func numbers(_ bytes: [UInt8]) -> [Double] {
        func words<T: FixedWidthInteger>(_: T.Type) -> [T] {
            stride(from: 0, to: bytes.count - MemoryLayout<T>.size + 1, by: MemoryLayout<T>.size).map { offset in
                var value: T = 0
                for i in 0..<MemoryLayout<T>.size { value |= T(truncatingIfNeeded: bytes[offset + i]) << (8 * i) }
                return value
            }
        }
        switch self {
        case .US: return words(UInt16.self).map(Double.init)
        case .SS: return words(Int16.self).map(Double.init)
        case .UL: return words(UInt32.self).map(Double.init)
        case .SL: return words(Int32.self).map(Double.init)
        case .UV: return words(UInt64.self).map(Double.init)
        case .SV: return words(Int64.self).map(Double.init)
        case .FL: return words(UInt32.self).map { Double(Float(bitPattern: $0)) }
        case .FD: return words(UInt64.self).map { Double(bitPattern: $0) }
        case .IS, .DS: return textValues(bytes, characterSet: .default).compactMap { Double($0) }
        default: return []
        }
    }
}
