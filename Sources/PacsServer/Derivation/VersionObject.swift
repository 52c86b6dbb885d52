import Codecs
import DICOM
import Foundation

/// Builds the DICOM object of a version from its original: the same dataset with new, encapsulated
/// pixel data, and for lossy versions a new SOP Instance UID, the lossy-compression attributes, a
/// derivation description, a reference to the source image and Strata's private version block.
enum VersionObject {
    /// Strata's private block: (0073,0010) names the creator; (0073,10xx) hold the version's tags.
    static let privateGroup: UInt16 = 0x0073
    static let privateCreator = "STRATA VERSIONS"

    struct Lossy {
        var version: CompressionPolicy.Version
        var targetRatio: Double
        var achievedRatio: Double
        var fidelity: Fidelity
    }

    /// The encoded Part 10 file and where each frame's codestream lies in it.
    struct Encoded {
        var bytes: [UInt8]
        var sopInstanceUID: String
        var frameOffsets: [Int]
        /// Bytes before the Pixel Data element.
        var headerLength: Int
    }

    /// The object of a version whose frames, described by `description`, are `codestreams` in `syntax`.
    static func build(from original: DicomFile, description: FrameDescription, codestreams: [[UInt8]],
                      syntax: TransferSyntax, lossy: Lossy?) throws -> Encoded {
        var dataSet = original.dataSet
        // Signatures and trailing padding describe the old bytes; the extended offset table the old fragments.
        for tag in [Tag.dataSetTrailingPadding, .digitalSignaturesSequence, .extendedOffsetTable, .extendedOffsetTableLengths] {
            dataSet.remove(tag)
        }
        setPixelModule(&dataSet, description)

        // Fragments must have even length: a codestream of odd length gets one trailing zero (PS3.5 A.4).
        let fragments = codestreams.map { $0.count % 2 == 1 ? $0 + [0] : $0 }
        var offsetTable: [UInt8] = []
        if fragments.count > 1 {
            var position: UInt32 = 0
            for fragment in fragments {
                offsetTable += withUnsafeBytes(of: position.littleEndian) { Array($0) }
                position += UInt32(8 + fragment.count)
            }
        }
        dataSet.set(Element(tag: .pixelData, vr: .OB, value: .fragments(Fragments(offsetTable: offsetTable, fragments: fragments)),
                            undefinedLength: true))

        var sopInstanceUID = dataSet.string(.sopInstanceUID) ?? ""
        if let lossy {
            sopInstanceUID = UID.make()
            markLossy(&dataSet, original: original.dataSet, source: original.transferSyntax, lossy: lossy, newUID: sopInstanceUID)
        }
        let file = try DicomFile.wrapping(dataSet, transferSyntax: syntax)
        let bytes = try file.encoded()
        // Pixel Data is the last element: its fragments fill the end of the file, before the delimiter.
        var position = bytes.count - 8 - fragments.reduce(0) { $0 + 8 + $1.count }
        let headerLength = position - 8 - offsetTable.count - 12
        var offsets: [Int] = []
        for fragment in fragments {
            offsets.append(position + 8)
            position += 8 + fragment.count
        }
        return Encoded(bytes: bytes, sopInstanceUID: sopInstanceUID, frameOffsets: offsets, headerLength: headerLength)
    }

    /// The Image Pixel module of the version's samples, which may differ from the original's (palette looked up).
    private static func setPixelModule(_ dataSet: inout DataSet, _ description: FrameDescription) {
        dataSet.set(.samplesPerPixel, uint16: UInt16(description.samplesPerPixel))
        dataSet.set(.photometricInterpretation, .CS, description.photometric)
        dataSet.set(.bitsAllocated, uint16: UInt16(description.bitsAllocated))
        dataSet.set(.bitsStored, uint16: UInt16(description.bitsStored))
        dataSet.set(.highBit, uint16: UInt16(description.bitsStored - 1))
        dataSet.set(.pixelRepresentation, uint16: description.signed ? 1 : 0)
        if description.samplesPerPixel > 1 { dataSet.set(.planarConfiguration, uint16: 0) } else { dataSet.remove(.planarConfiguration) }
        if description.photometric != "PALETTE COLOR" {
            for tag in [Tag.redPaletteColorLookupTableDescriptor, .greenPaletteColorLookupTableDescriptor, .bluePaletteColorLookupTableDescriptor,
                        .redPaletteColorLookupTableData, .greenPaletteColorLookupTableData, .bluePaletteColorLookupTableData,
                        .segmentedRedPaletteColorLookupTableData, .segmentedGreenPaletteColorLookupTableData,
                        .segmentedBluePaletteColorLookupTableData, .paletteColorLookupTableUID] {
                dataSet.remove(tag)
            }
        }
    }

    private static func markLossy(_ dataSet: inout DataSet, original: DataSet, source: TransferSyntax, lossy: Lossy, newUID: String) {
        dataSet.set(.sopInstanceUID, .UI, newUID)
        var imageType = original.strings(.imageType)
        if !imageType.isEmpty {
            imageType[0] = "DERIVED"
            dataSet.set(.imageType, .CS, imageType.joined(separator: "\\"))
        }
        dataSet.set(.lossyImageCompression, .CS, "01")
        // Earlier lossy steps stay listed; ours is appended (PS3.3 C.7.6.1.1.5).
        let ratios = original.strings(.lossyImageCompressionRatio) + [decimal(lossy.achievedRatio)]
        dataSet.set(.lossyImageCompressionRatio, .DS, ratios.joined(separator: "\\"))
        let methods = original.strings(.lossyImageCompressionMethod) + ["ISO_15444_1"]
        dataSet.set(.lossyImageCompressionMethod, .CS, methods.joined(separator: "\\"))
        let psnr = lossy.fidelity.psnr.map { String(format: "%.1f dB", $0) } ?? "exact"
        dataSet.set(.derivationDescription, .ST,
                    "Strata \(lossy.version.name) (\(lossy.version.purpose.rawValue), quality \(lossy.version.quality)%): "
                    + "JPEG 2000 irreversible, ratio \(decimal(lossy.achievedRatio)):1, PSNR \(psnr), max error \(lossy.fidelity.maxError)"
                    + (source.isLossy ? ", from a lossy original (\(source.name))" : ""))

        var source = DataSet()
        source.set(.referencedSOPClassUID, .UI, original.string(.sopClassUID) ?? "")
        source.set(.referencedSOPInstanceUID, .UI, original.string(.sopInstanceUID) ?? "")
        var purpose = DataSet()
        purpose.set(.codeValue, .SH, "121320")
        purpose.set(.codingSchemeDesignator, .SH, "DCM")
        purpose.set(.codeMeaning, .LO, "Uncompressed predecessor")
        source.set(Element(tag: .purposeOfReferenceCodeSequence, vr: .SQ, value: .items([Item(purpose)])))
        dataSet.set(Element(tag: .sourceImageSequence, vr: .SQ, value: .items([Item(source)])))

        let group = privateGroup
        dataSet.set(Tag(group, 0x0010), .LO, privateCreator)
        dataSet.set(Tag(group, 0x1001), .CS, lossy.version.name)
        dataSet.set(Tag(group, 0x1002), .IS, String(lossy.version.quality))
        dataSet.set(Tag(group, 0x1003), .CS, lossy.version.purpose.rawValue.uppercased())
        dataSet.set(Tag(group, 0x1004), .DS, decimal(lossy.targetRatio))
    }

    /// A DS value: at most 16 characters, two decimals.
    static func decimal(_ value: Double) -> String {
        String(format: "%.2f", value)
    }
}
