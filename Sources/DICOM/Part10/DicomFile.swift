import Foundation

/// A DICOM Part 10 file (PS3.10 7): preamble, "DICM", file meta information (group 0002, always Explicit VR
/// Little Endian) and the dataset in the transfer syntax the meta names. Also reads what real archives hold
/// besides: files without preamble, without meta (a bare dataset), and meta with a missing or wrong group length.
public struct DicomFile: Equatable, Sendable {
    public var meta: DataSet
    public var dataSet: DataSet
    /// The syntax the dataset was read in (and is written in, except big endian, which is written as explicit LE).
    public var transferSyntax: TransferSyntax
    /// Byte offset where the dataset started in the file that was read (after the meta information).
    public private(set) var dataSetOffset: Int = 0
    /// Where the pixel data lies in the file that was read; nil when it has none or was deflated.
    public var pixelDataLocation: PixelDataLocation?

    public init(meta: DataSet, dataSet: DataSet, transferSyntax: TransferSyntax) {
        self.meta = meta
        self.dataSet = dataSet
        self.transferSyntax = transferSyntax
    }

    public static func read(contentsOf url: URL) throws -> DicomFile {
        try read(Array(try Data(contentsOf: url)))
    }

    /// Reads a Part 10 file. With `skippingPixelData`, the top-level Pixel Data is located (`pixelDataLocation`,
    /// lengths included) but left out of the dataset: for a caller that keeps the bytes as they are and needs the
    /// attributes, without copying the pixels.
    public static func read(_ bytes: [UInt8], skippingPixelData: Bool = false) throws -> DicomFile {
        guard bytes.count >= 8 else { throw DICOMError.notDICOM(reason: "only \(bytes.count) bytes") }
        let magic = Array("DICM".utf8)
        var position: Int
        if bytes.count >= 132, Array(bytes[128..<132]) == magic {
            position = 132
        } else if Array(bytes[0..<4]) == magic {
            position = 4
        } else {
            position = 0
        }

        // File meta information: every group 0002 element, whatever (0002,0000) claims.
        var metaReader = DataSetReader(bytes: bytes, position: position, explicitVR: true)
        let meta = try metaReader.readDataSet(end: bytes.count, onlyGroup: 0x0002)
        position = metaReader.position
        if position == 0 {
            guard Self.looksLikeDataSet(bytes) else {
                throw DICOMError.notDICOM(reason: "no \"DICM\" at byte 128 or 0, and byte 0 does not start a DICOM element")
            }
        }

        var syntax: TransferSyntax
        if let uid = meta.string(.transferSyntaxUID) {
            guard let known = TransferSyntax(uid: uid) else { throw DICOMError.unknownTransferSyntax(uid: uid) }
            syntax = known
        } else {
            syntax = Self.hasExplicitVR(bytes, at: position) ? .explicitVRLittleEndian : .implicitVRLittleEndian
        }

        var body = bytes
        var bodyStart = position
        if syntax.deflated {
            body = try Deflate.inflate(bytes[position...])
            bodyStart = 0
        }
        let explicitVR = Self.usesExplicitVR(body, at: bodyStart, declared: syntax)
        // (Offsets in errors from a deflated dataset count from the start of the inflated bytes.)
        var reader = DataSetReader(bytes: body, position: bodyStart, explicitVR: explicitVR, bigEndian: !syntax.littleEndian,
                                   skipsPixelData: skippingPixelData && !syntax.deflated)
        let dataSet = try reader.readDataSet(end: body.count)
        guard !dataSet.isEmpty else {
            throw DICOMError.notDICOM(reason: "no dataset after the file meta information (byte \(position))")
        }
        if let stray = dataSet.elements.first(where: { $0.tag.group == 0x0002 }) {
            throw DICOMError.metaInDataSet(start: position, tag: stray.tag)
        }
        if explicitVR != syntax.explicitVR, !syntax.encapsulated {
            syntax = explicitVR ? .explicitVRLittleEndian : .implicitVRLittleEndian
        }
        var file = DicomFile(meta: meta, dataSet: dataSet, transferSyntax: syntax)
        file.dataSetOffset = position
        if !syntax.deflated { file.pixelDataLocation = reader.pixelData }
        return file
    }

    /// Encodes the file: a zero preamble, "DICM", the meta with a correct group length, then the dataset.
    /// A big-endian dataset (held little endian in memory) is written as Explicit VR Little Endian.
    public func encoded() throws -> [UInt8] {
        let syntax = transferSyntax.littleEndian ? transferSyntax : .explicitVRLittleEndian
        let body = try dataSet.encoded(syntax: syntax)
        return try header(syntax: syntax) + body
    }

    /// Preamble, "DICM" and the file meta information (group length recomputed) naming `syntax`.
    public func header(syntax: TransferSyntax? = nil) throws -> [UInt8] {
        var meta = self.meta
        meta.remove(.fileMetaInformationGroupLength)
        meta.set(.transferSyntaxUID, .UI, (syntax ?? transferSyntax).uid)
        let metaBytes = try DataSetWriter.encode(meta, explicitVR: true)
        var groupLength = DataSet()
        groupLength.set(.fileMetaInformationGroupLength, uint32: UInt32(metaBytes.count))
        var out = [UInt8](repeating: 0, count: 128)
        out.append(contentsOf: "DICM".utf8)
        out.append(contentsOf: try DataSetWriter.encode(groupLength, explicitVR: true))
        out.append(contentsOf: metaBytes)
        return out
    }

    /// Builds a file for a dataset received without meta information (C-STORE, STOW-RS, bare files).
    public static func wrapping(_ dataSet: DataSet, transferSyntax: TransferSyntax, sourceAE: String? = nil) throws -> DicomFile {
        guard let sopClass = dataSet.string(.sopClassUID) else { throw DICOMError.missingAttribute(.sopClassUID) }
        guard let sopInstance = dataSet.string(.sopInstanceUID) else { throw DICOMError.missingAttribute(.sopInstanceUID) }
        var meta = DataSet()
        meta.set(Element(tag: .fileMetaInformationVersion, vr: .OB, bytes: [0, 1]))
        meta.set(.mediaStorageSOPClassUID, .UI, sopClass)
        meta.set(.mediaStorageSOPInstanceUID, .UI, sopInstance)
        meta.set(.transferSyntaxUID, .UI, transferSyntax.uid)
        meta.set(.implementationClassUID, .UI, Implementation.classUID)
        meta.set(.implementationVersionName, .SH, Implementation.versionName)
        if let sourceAE { meta.set(.sourceApplicationEntityTitle, .AE, sourceAE) }
        return DicomFile(meta: meta, dataSet: dataSet, transferSyntax: transferSyntax)
    }

    /// Whether a dataset is encoded with explicit VRs. Some writers declare one VR encoding and use the other: the
    /// bytes are trusted over the declaration.
    static func usesExplicitVR(_ bytes: [UInt8], at position: Int, declared syntax: TransferSyntax) -> Bool {
        if syntax.explicitVR, syntax.littleEndian, bytes.count - position >= 8, !hasExplicitVR(bytes, at: position) { return false }
        if !syntax.explicitVR, hasExplicitVR(bytes, at: position), explicitVRMatchesDictionary(bytes, at: position) { return true }
        return syntax.explicitVR
    }

    /// The first element header carries two VR letters where Explicit VR puts them.
    static func hasExplicitVR(_ bytes: [UInt8], at position: Int) -> Bool {
        guard bytes.count - position >= 6 else { return false }
        return VR(byte0: bytes[position + 4], byte1: bytes[position + 5]) != nil
    }

    private static func explicitVRMatchesDictionary(_ bytes: [UInt8], at position: Int) -> Bool {
        guard let vr = VR(byte0: bytes[position + 4], byte1: bytes[position + 5]) else { return false }
        let tag = Tag(UInt16(bytes[position]) | UInt16(bytes[position + 1]) << 8, UInt16(bytes[position + 2]) | UInt16(bytes[position + 3]) << 8)
        return DataDictionary.entry(for: tag)?.vrs.contains(vr) ?? false
    }

    /// A bare dataset starts with a plausible little-endian tag of a low group (0008 is the usual first).
    private static func looksLikeDataSet(_ bytes: [UInt8]) -> Bool {
        let group = UInt16(bytes[0]) | UInt16(bytes[1]) << 8
        let tag = Tag(group, UInt16(bytes[2]) | UInt16(bytes[3]) << 8)
        return group >= 0x0002 && group <= 0x0010 && group % 2 == 0 && (tag.isGroupLength || DataDictionary.entry(for: tag) != nil)
    }
}

extension DataSet {
    /// Reads a bare dataset encoded in `syntax` (as DIMSE messages carry them).
    public static func read(_ bytes: [UInt8], syntax: TransferSyntax) throws -> DataSet {
        try readLocatingPixelData(bytes, syntax: syntax).dataSet
    }

    /// Reads a bare dataset and says where its pixel data lies in `bytes` (nil when deflated). With
    /// `skippingPixelData`, the pixel data is only located, as `DicomFile.read(_:skippingPixelData:)` says.
    public static func readLocatingPixelData(_ bytes: [UInt8], syntax: TransferSyntax,
                                             skippingPixelData: Bool = false) throws -> (dataSet: DataSet, pixelData: PixelDataLocation?) {
        let body = syntax.deflated ? try Deflate.inflate(bytes[...]) : bytes
        var reader = DataSetReader(bytes: body, explicitVR: DicomFile.usesExplicitVR(body, at: 0, declared: syntax), bigEndian: !syntax.littleEndian,
                                   skipsPixelData: skippingPixelData && !syntax.deflated)
        let dataSet = try reader.readDataSet(end: body.count)
        return (dataSet, syntax.deflated ? nil : reader.pixelData)
    }

    /// Encodes the dataset in `syntax` (little-endian syntaxes; deflated ones compressed).
    public func encoded(syntax: TransferSyntax) throws -> [UInt8] {
        let body = try DataSetWriter.encode(self, explicitVR: syntax.explicitVR)
        return syntax.deflated ? try Deflate.deflate(body) : body
    }
}
