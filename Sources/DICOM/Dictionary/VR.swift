/// A value representation (PS3.5 6.2).
public enum VR: String, Sendable, CaseIterable {
    case AE, AS, AT, CS, DA, DS, DT, FD, FL, IS, LO, LT, OB, OD, OF, OL, OV, OW, PN, SH, SL, SQ, SS, ST, SV, TM, UC, UI, UL, UN, UR, US, UT, UV

    /// Reads the two VR characters of an explicit-VR element header.
    init?(byte0: UInt8, byte1: UInt8) {
        guard byte0 >= 0x41, byte0 <= 0x5A, byte1 >= 0x41, byte1 <= 0x5A,
              let vr = VR(rawValue: String(decoding: [byte0, byte1], as: UTF8.self)) else { return nil }
        self = vr
    }

    /// In explicit VR encodings these VRs have a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2).
    public var hasLongLength: Bool {
        switch self {
        case .OB, .OD, .OF, .OL, .OV, .OW, .SQ, .UC, .UN, .UR, .UT, .SV, .UV: return true
        default: return false
        }
    }

    /// Character string VRs; values are text padded with a space (UI with a NUL).
    public var isString: Bool {
        switch self {
        case .AE, .AS, .CS, .DA, .DS, .DT, .IS, .LO, .LT, .PN, .SH, .ST, .TM, .UC, .UI, .UR, .UT: return true
        default: return false
        }
    }

    /// String VRs whose text is decoded with the Specific Character Set; the others are plain ASCII.
    public var usesCharacterSet: Bool {
        switch self {
        case .LO, .LT, .PN, .SH, .ST, .UC, .UT: return true
        default: return false
        }
    }

    /// String VRs that hold one value only: a backslash in them is text, not a separator.
    public var isSingleValuedText: Bool { self == .LT || self == .ST || self == .UT || self == .UR }

    /// Binary VRs carried as bulk data (InlineBinary or BulkDataURI in DICOM JSON).
    public var isBulk: Bool {
        switch self {
        case .OB, .OD, .OF, .OL, .OV, .OW, .UN: return true
        default: return false
        }
    }

    /// Width in bytes of one binary number of this VR, for byte swapping; 1 for strings and bytes.
    public var wordSize: Int {
        switch self {
        case .US, .SS, .OW, .AT: return 2
        case .UL, .SL, .FL, .OF, .OL: return 4
        case .FD, .OD, .SV, .UV, .OV: return 8
        default: return 1
        }
    }

    public var paddingByte: UInt8 { self == .UI || self == .OB || self == .UN ? 0 : (isString ? 0x20 : 0) }
}
