/// How a dataset is encoded after the file meta information (PS3.5 10).
public struct TransferSyntax: Hashable, Sendable, CustomStringConvertible {
    public let uid: String
    public let explicitVR: Bool
    public let littleEndian: Bool
    public let deflated: Bool
    /// Pixel data is encapsulated in fragments (every compressed syntax).
    public let encapsulated: Bool

    public static let implicitVRLittleEndian = TransferSyntax(uid: "1.2.840.10008.1.2", explicitVR: false, littleEndian: true, deflated: false, encapsulated: false)
    public static let explicitVRLittleEndian = TransferSyntax(uid: "1.2.840.10008.1.2.1", explicitVR: true, littleEndian: true, deflated: false, encapsulated: false)
    public static let deflatedExplicitVRLittleEndian = TransferSyntax(uid: "1.2.840.10008.1.2.1.99", explicitVR: true, littleEndian: true, deflated: true, encapsulated: false)
    public static let explicitVRBigEndian = TransferSyntax(uid: "1.2.840.10008.1.2.2", explicitVR: true, littleEndian: false, deflated: false, encapsulated: false)
    public static let jpegLSLossless = TransferSyntax(encapsulated: "1.2.840.10008.1.2.4.80")
    public static let jpegLSNearLossless = TransferSyntax(encapsulated: "1.2.840.10008.1.2.4.81")
    public static let jpeg2000Lossless = TransferSyntax(encapsulated: "1.2.840.10008.1.2.4.90")
    public static let jpeg2000 = TransferSyntax(encapsulated: "1.2.840.10008.1.2.4.91")
    public static let jpegBaseline = TransferSyntax(encapsulated: "1.2.840.10008.1.2.4.50")
    public static let jpegLossless = TransferSyntax(encapsulated: "1.2.840.10008.1.2.4.57")
    public static let jpegLosslessSV1 = TransferSyntax(encapsulated: "1.2.840.10008.1.2.4.70")
    public static let rleLossless = TransferSyntax(encapsulated: "1.2.840.10008.1.2.5")

    private static let native: [TransferSyntax] = [.implicitVRLittleEndian, .explicitVRLittleEndian, .deflatedExplicitVRLittleEndian, .explicitVRBigEndian]

    private init(uid: String, explicitVR: Bool, littleEndian: Bool, deflated: Bool, encapsulated: Bool) {
        self.uid = uid
        self.explicitVR = explicitVR
        self.littleEndian = littleEndian
        self.deflated = deflated
        self.encapsulated = encapsulated
    }

    private init(encapsulated uid: String) {
        self.init(uid: uid, explicitVR: true, littleEndian: true, deflated: false, encapsulated: true)
    }

    /// The syntax named by a UID: one of the native ones, or any transfer syntax of the standard's registry
    /// (those all encode the dataset in Explicit VR Little Endian with encapsulated pixel data). Nil for
    /// a UID that names no transfer syntax.
    public init?(uid rawUID: String) {
        let uid = rawUID.trimmingPadding()
        if let known = Self.native.first(where: { $0.uid == uid }) {
            self = known
        } else if DataDictionary.uid(uid)?.type == "Transfer Syntax" {
            self.init(encapsulated: uid)
        } else {
            return nil
        }
    }

    /// Compressed syntaxes that give back exactly what was coded: RLE, JPEG lossless, JPEG-LS lossless,
    /// JPEG 2000 and HTJ2K lossless-only, JPEG XL lossless. Every other compressed syntax may lose information.
    private static let losslessCompressed: Set<String> = [
        "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.80",
        "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.92", "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202",
        "1.2.840.10008.1.2.4.110",
    ]

    /// Whether pixels in this syntax may differ from what was coded (JPEG baseline, JPEG-LS near-lossless, ...).
    public var isLossy: Bool { encapsulated && !Self.losslessCompressed.contains(uid) }

    public var name: String { DataDictionary.uid(uid)?.name ?? uid }
    public var description: String { "\(name) (\(uid))" }
}

extension String {
    /// Drops the trailing spaces and NULs that pad DICOM values to even length.
    func trimmingPadding() -> String {
        var scalars = Substring(self)
        while let last = scalars.last, last == " " || last == "\0" { scalars.removeLast() }
        return String(scalars)
    }
}
