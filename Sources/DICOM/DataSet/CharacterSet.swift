import Foundation

/// The Specific Character Set (0008,0005) of a dataset: how its text values are decoded (PS3.5 6.1).
public enum SpecificCharacterSet: Equatable, Sendable {
    /// The default repertoire (ASCII); bytes above 0x7F are read as Latin-1 rather than lost.
    case `default`
    case latin1          // ISO_IR 100
    case latin2          // ISO_IR 101
    case utf8            // ISO_IR 192
    case cyrillic        // ISO_IR 144 (ISO 8859-5)

    /// The character set named by the first value of (0008,0005); unknown terms fall back to the default.
    public init(term rawTerm: String?) {
        let term = (rawTerm ?? "").split(separator: "\\").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        switch term {
        case "ISO_IR 100", "ISO 2022 IR 100": self = .latin1
        case "ISO_IR 101", "ISO 2022 IR 101": self = .latin2
        case "ISO_IR 192": self = .utf8
        case "ISO_IR 144", "ISO 2022 IR 144": self = .cyrillic
        default: self = .default
        }
    }

    public func decode(_ bytes: some Collection<UInt8>) -> String {
        switch self {
        case .utf8:
            return String(decoding: bytes, as: UTF8.self)
        case .default, .latin1:
            // ASCII, which nearly every value is, reads the same as UTF-8, the encoding Swift decodes fastest.
            if bytes.allSatisfy({ $0 < 0x80 }) { return String(decoding: bytes, as: UTF8.self) }
            return String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
        case .latin2:
            return String(data: Data(bytes), encoding: .isoLatin2) ?? SpecificCharacterSet.latin1.decode(bytes)
        case .cyrillic:
            return decodeISO8859(bytes, offset: 0x0360, from: 0xA1, except: [0xAD: 0xAD, 0xF0: 0x2116, 0xFD: 0xA7])
        }
    }

    /// ISO 8859 parts whose upper half maps to one contiguous Unicode block (with a few exceptions).
    private func decodeISO8859(_ bytes: some Collection<UInt8>, offset: UInt32, from start: UInt8, except: [UInt8: UInt32]) -> String {
        var scalars = String.UnicodeScalarView()
        for byte in bytes {
            let code: UInt32 = except[byte] ?? (byte >= start ? UInt32(byte) + offset : UInt32(byte))
            scalars.append(Unicode.Scalar(code) ?? "?")
        }
        return String(scalars)
    }

    public func encode(_ text: String) -> [UInt8] {
        switch self {
        case .utf8: return Array(text.utf8)
        case .latin2: return Array(text.data(using: .isoLatin2, allowLossyConversion: true) ?? Data(text.utf8))
        default:
            return text.unicodeScalars.map { $0.value < 256 ? UInt8($0.value) : UInt8(ascii: "?") }
        }
    }
}
