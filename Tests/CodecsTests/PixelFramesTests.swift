import Codecs
import DICOM
import Testing

@Suite("Pixels read by the header, as pydicom reads them")
struct PixelFramesTests {
    /// A one-frame native dataset of 16-bit cells.
    static func native(_ cells: [UInt16], bitsStored: Int, signed: Bool, columns: Int = 2) -> DataSet {
        var dataSet = DataSet()
        dataSet.set(.rows, uint16: UInt16(cells.count / columns))
        dataSet.set(.columns, uint16: UInt16(columns))
        dataSet.set(.bitsAllocated, uint16: 16)
        dataSet.set(.bitsStored, uint16: UInt16(bitsStored))
        dataSet.set(.highBit, uint16: UInt16(bitsStored - 1))
        dataSet.set(.pixelRepresentation, uint16: signed ? 1 : 0)
        dataSet.set(.photometricInterpretation, .CS, "MONOCHROME2")
        dataSet.set(Element(tag: .pixelData, vr: .OW, bytes: cells.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }))
        return dataSet
    }

    @Test("a sample is the low BitsStored bits of its cell, two's complement when Pixel Representation says signed")
    func bitsStored() throws {
        let cells: [UInt16] = [0xF123, 0x0923, 0x07FF, 0x0800]
        let unsigned = try PixelFrames(Self.native(cells, bitsStored: 12, signed: false), syntax: .explicitVRLittleEndian)
        #expect(NativeSamples.read(unsigned.frames[0], unsigned.description) == [0x123, 0x923, 0x7FF, 0x800])
        let signed = try PixelFrames(Self.native(cells, bitsStored: 12, signed: true), syntax: .explicitVRLittleEndian)
        #expect(NativeSamples.read(signed.frames[0], signed.description) == [291, -1757, 2047, -2048])
        // The cells themselves are rewritten to hold just the sample, so every codec sees the same values.
        #expect(signed.frames[0] == NativeSamples.write([291, -1757, 2047, -2048], signed.description))
    }

    @Test("a JPEG 2000 codestream that says unsigned under a header that says signed decodes by the header")
    func jpeg2000SignMismatch() throws {
        var header = FrameDescription(rows: 2, columns: 2, bitsAllocated: 16, bitsStored: 13, signed: false)
        let stored: [Int32] = [0, 4095, 4096, 8191]
        let codestream = try JPEG2000.encode(NativeSamples.write(stored, header), header, .lossless)
        header.signed = true
        var dataSet = Self.native([0, 0, 0, 0], bitsStored: 13, signed: true)
        dataSet.set(Element(tag: .pixelData, vr: .OB, value: .fragments(Fragments(fragments: [codestream + (codestream.count % 2 == 1 ? [0] : [])])),
                            undefinedLength: true))
        let image = try PixelFrames(dataSet, syntax: .jpeg2000Lossless)
        #expect(NativeSamples.read(image.frames[0], image.description) == [0, 4095, -4096, -1])
    }

    // Pure red in YBR is (76, 85, 255); back to RGB it is (254, 0, 0), as pydicom converts it.
    @Test("YBR_FULL shows as RGB; native YBR_FULL_422 is expanded, each pair of pixels sharing its chrominance")
    func colourSpaces() throws {
        #expect(ColourSpace.rgb(fromYBR: [128, 128, 128, 76, 85, 255, 0, 128, 128], bits: 8) == [128, 128, 128, 254, 0, 0, 0, 0, 0])
        let packed: [UInt8] = [10, 20, 100, 200, 30, 40, 101, 201]
        #expect(try ColourSpace.expand422(packed, rows: 1, columns: 4, bytesPerSample: 1)
                == [10, 100, 200, 20, 100, 200, 30, 101, 201, 40, 101, 201])
        #expect(throws: CodecError.self) { try ColourSpace.expand422(packed, rows: 1, columns: 3, bytesPerSample: 1) }
    }

    @Test("palette indices look up their colours: plain tables, 8-bit packed, and segmented ones (discrete, linear, indirect)")
    func palettes() throws {
        func words(_ values: [UInt16]) -> [UInt8] { values.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] } }
        var dataSet = DataSet()
        for (descriptor, data) in [(Tag.redPaletteColorLookupTableDescriptor, Tag.redPaletteColorLookupTableData),
                                   (.greenPaletteColorLookupTableDescriptor, .greenPaletteColorLookupTableData),
                                   (.bluePaletteColorLookupTableDescriptor, .bluePaletteColorLookupTableData)] {
            dataSet.set(Element(tag: descriptor, vr: .US, bytes: words([4, 10, 16])))
            dataSet.set(Element(tag: data, vr: .OW, bytes: words([100, 200, 300, 400])))
        }
        let plain = try ColourPalette(dataSet, signedIndices: false)
        // Below the first mapped index: the first entry; above the last: the last.
        #expect(plain.colours(of: [9, 10, 12, 99]) == [100, 100, 100, 100, 100, 100, 300, 300, 300, 400, 400, 400])

        var segmented = DataSet()
        // 0, 10 (discrete 2), then linear to 40 in 3 steps (20, 30, 40), then the first two segments again (indirect).
        let segments = words([0, 2, 0, 10, 1, 3, 40, 2, 2, 0, 0])
        for (descriptor, data) in [(Tag.redPaletteColorLookupTableDescriptor, Tag.segmentedRedPaletteColorLookupTableData),
                                   (.greenPaletteColorLookupTableDescriptor, .segmentedGreenPaletteColorLookupTableData),
                                   (.bluePaletteColorLookupTableDescriptor, .segmentedBluePaletteColorLookupTableData)] {
            segmented.set(Element(tag: descriptor, vr: .US, bytes: words([10, 0, 16])))
            segmented.set(Element(tag: data, vr: .OW, bytes: segments))
        }
        let expanded = try ColourPalette(segmented, signedIndices: false)
        #expect(expanded.red == [0, 10, 20, 30, 40, 0, 10, 20, 30, 40])
    }

    @Test("a palette without tables, or with entries of an unknown size, is an error")
    func badPalettes() {
        #expect(throws: CodecError.self) { try ColourPalette(DataSet(), signedIndices: false) }
    }
}
