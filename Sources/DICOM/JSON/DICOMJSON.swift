import Foundation

/// Encodes datasets as DICOM JSON (PS3.18 F.2): an object keyed by tag, each with "vr" and "Value",
/// "InlineBinary" or "BulkDataURI". Keys are written in tag order.
public struct DICOMJSONEncoder: Sendable {
    /// Returns a BulkDataURI for a binary element (given the tag path from the top), or nil to inline it.
    public var bulkDataURI: (@Sendable ([Tag]) -> String?)?

    public init(bulkDataURI: (@Sendable ([Tag]) -> String?)? = nil) {
        self.bulkDataURI = bulkDataURI
    }

    public func encode(_ dataSet: DataSet) -> String {
        var out = ""
        write(dataSet, path: [], characterSet: dataSet.characterSet(), to: &out)
        return out
    }

    /// A JSON array of datasets, as QIDO-RS and the metadata resource return them.
    public func encode(_ dataSets: [DataSet]) -> String {
        var out = "["
        for (index, dataSet) in dataSets.enumerated() {
            if index > 0 { out += "," }
            write(dataSet, path: [], characterSet: dataSet.characterSet(), to: &out)
        }
        return out + "]"
    }

    private func write(_ dataSet: DataSet, path: [Tag], characterSet: SpecificCharacterSet, to out: inout String) {
        out += "{"
        var first = true
        for element in dataSet.elements where !element.tag.isGroupLength {
            if !first { out += "," }
            first = false
            // A UN of undefined length holds items: DICOM JSON can only say that as a sequence.
            let vr = element.vr == .UN && !element.items.isEmpty ? VR.SQ : element.vr
            out += "\"\(element.tag.hexString)\":{\"vr\":\"\(vr.rawValue)\""
            writeValue(element, path: path + [element.tag], characterSet: characterSet, to: &out)
            out += "}"
        }
        out += "}"
    }

    private func writeValue(_ element: Element, path: [Tag], characterSet: SpecificCharacterSet, to out: inout String) {
        switch element.value {
        case let .items(items):
            guard !items.isEmpty else { return }
            out += ",\"Value\":["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                write(item.dataSet, path: path, characterSet: item.dataSet.characterSet(inherited: characterSet), to: &out)
            }
            out += "]"
        case .fragments:
            writeBulk(element, path: path, to: &out)
        case let .bytes(bytes):
            if element.vr.isBulk {
                writeBulk(element, path: path, to: &out)
                return
            }
            let values = Self.values(of: element.vr, bytes: bytes, characterSet: characterSet)
            guard !values.isEmpty else { return }
            out += ",\"Value\":[" + values.joined(separator: ",") + "]"
        }
    }

    private func writeBulk(_ element: Element, path: [Tag], to out: inout String) {
        if let uri = bulkDataURI?(path) {
            out += ",\"BulkDataURI\":" + Self.quote(uri)
            return
        }
        let bytes: [UInt8]
        switch element.value {
        case let .bytes(raw): bytes = raw
        case .fragments: bytes = Array((try? DataSetWriter.encode(DataSet([element]), explicitVR: true))?.dropFirst(12) ?? [])
        case .items: bytes = []
        }
        guard !bytes.isEmpty else { return }
        out += ",\"InlineBinary\":\"" + Data(bytes).base64EncodedString() + "\""
    }

    /// The JSON texts of an element's values.
    static func values(of vr: VR, bytes: [UInt8], characterSet: SpecificCharacterSet) -> [String] {
        switch vr {
        case .US, .SS, .UL, .SL, .UV, .SV:
            return integerTexts(vr, bytes)
        case .FL, .FD:
            return vr.numbers(bytes).map(number)
        case .IS, .DS:
            return vr.textValues(bytes, characterSet: .default).map { text in
                if text.isEmpty { return "null" }
                if isJSONNumber(text) { return text }
                return Double(text).map(number) ?? quote(text)
            }
        case .AT:
            return stride(from: 0, to: bytes.count - 3, by: 4).map { i in
                let group = UInt16(bytes[i]) | UInt16(bytes[i + 1]) << 8
                let element = UInt16(bytes[i + 2]) | UInt16(bytes[i + 3]) << 8
                return quote(Tag(group, element).hexString)
            }
        case .PN:
            return vr.textValues(bytes, characterSet: characterSet).map { name in
                if name.isEmpty { return "null" }
                let groups = name.split(separator: "=", omittingEmptySubsequences: false)
                let keys = ["Alphabetic", "Ideographic", "Phonetic"]
                let fields = zip(keys, groups).filter { !$0.1.isEmpty }.map { "\"\($0.0)\":" + quote(String($0.1)) }
                return "{" + fields.joined(separator: ",") + "}"
            }
        default:
            let texts = vr.textValues(bytes, characterSet: characterSet)
            if texts.count == 1, texts[0].isEmpty { return [] }
            return texts.map { $0.isEmpty ? "null" : quote($0) }
        }
    }

    private static func integerTexts(_ vr: VR, _ bytes: [UInt8]) -> [String] {
        func read<T: FixedWidthInteger>(_: T.Type) -> [String] {
            stride(from: 0, to: bytes.count - MemoryLayout<T>.size + 1, by: MemoryLayout<T>.size).map { offset in
                var value: T = 0
                for i in 0..<MemoryLayout<T>.size { value |= T(truncatingIfNeeded: bytes[offset + i]) << (8 * i) }
                return String(value)
            }
        }
        switch vr {
        case .US: return read(UInt16.self)
        case .SS: return read(Int16.self)
        case .UL: return read(UInt32.self)
        case .SL: return read(Int32.self)
        case .UV: return read(UInt64.self)
        default: return read(Int64.self)
        }
    }

    private static func number(_ value: Double) -> String {
        guard value.isFinite else { return quote(String(value)) }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }

    /// JSON's number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    static func isJSONNumber(_ text: String) -> Bool {
        var chars = Substring(text)
        if chars.first == "-" { chars.removeFirst() }
        let intDigits = chars.prefix { $0.isASCII && $0.isNumber }
        guard !intDigits.isEmpty, intDigits == "0" || intDigits.first != "0" else { return false }
        chars.removeFirst(intDigits.count)
        if chars.first == "." {
            chars.removeFirst()
            let fraction = chars.prefix { $0.isASCII && $0.isNumber }
            guard !fraction.isEmpty else { return false }
            chars.removeFirst(fraction.count)
        }
        if chars.first == "e" || chars.first == "E" {
            chars.removeFirst()
            if chars.first == "+" || chars.first == "-" { chars.removeFirst() }
            let exponent = chars.prefix { $0.isASCII && $0.isNumber }
            guard !exponent.isEmpty else { return false }
            chars.removeFirst(exponent.count)
        }
        return chars.isEmpty
    }

    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
