import DICOM
import Foundation
import Testing

@Suite("Reading Part 10 files")
struct Part10ReadingTests {
    @Test("every valid fixture reads, with its SOP Instance UID and pixel data", arguments: Fixtures.valid.map(\.lastPathComponent))
    func readsEveryValidFixture(name: String) throws {
        let file = try DicomFile.read(Fixtures.bytes("valid", name))
        #expect(file.dataSet.string(.sopInstanceUID)?.isEmpty == false)
        #expect(file.dataSet[.pixelData] != nil)
        #expect(file.dataSet.int(.rows) ?? 0 > 0)
    }

    @Test("skipping the pixel data reads every other element and locates the pixels' bytes exactly", arguments: Fixtures.valid.map(\.lastPathComponent))
    func skippingPixelDataLocatesThem(name: String) throws {
        let bytes = try Fixtures.bytes("valid", name)
        let whole = try DicomFile.read(bytes)
        let skipped = try DicomFile.read(bytes, skippingPixelData: true)
        var withoutPixels = whole.dataSet
        if whole.transferSyntax.deflated {
            #expect(skipped.dataSet == whole.dataSet, "a deflated dataset is read whole")
            return
        }
        _ = withoutPixels.remove(.pixelData)
        #expect(skipped.dataSet == withoutPixels)
        #expect(skipped.dataSet[.pixelData] == nil)
        let location = try #require(skipped.pixelDataLocation)
        #expect(location == whole.pixelDataLocation)
        let pixels = try #require(whole.dataSet[.pixelData])
        if let fragments = pixels.fragments {
            let located = zip(location.fragmentOffsets, location.fragmentLengths).map { Array(bytes[$0..<$0 + $1]) }
            #expect(located == fragments.fragments)
        } else if whole.transferSyntax.littleEndian {
            #expect(Array(bytes[location.valueOffset..<location.valueOffset + location.valueLength]) == pixels.bytes)
        }
    }

    @Test("an unchanged dataset writes back byte for byte", arguments: Fixtures.valid.map(\.lastPathComponent))
    func roundTripIsByteExact(name: String) throws {
        let bytes = try Fixtures.bytes("valid", name)
        let file = try DicomFile.read(bytes)
        let syntax = file.transferSyntax
        if syntax == .explicitVRBigEndian {
            // Big endian is read into little endian: the elements must survive a write and a re-read.
            let reread = try DicomFile.read(try file.encoded())
            #expect(reread.dataSet == file.dataSet)
            #expect(reread.transferSyntax == .explicitVRLittleEndian)
            return
        }
        let encoded = try DataSetWriter.encode(file.dataSet, explicitVR: syntax.explicitVR)
        if syntax.deflated {
            let reread = try DicomFile.read(try file.encoded())
            #expect(reread.dataSet == file.dataSet)
            #expect(try DataSetWriter.encode(reread.dataSet, explicitVR: true) == encoded)
        } else {
            #expect(Array(bytes[file.dataSetOffset...]) == encoded, "dataset bytes differ after a round trip")
        }
    }

    @Test("a big-endian dataset reads the same values as its little-endian twin")
    func bigEndianValues() throws {
        let file = try DicomFile.read(Fixtures.bytes("valid", "cr_explicit_be.dcm"))
        #expect(file.transferSyntax == .explicitVRBigEndian)
        #expect(file.dataSet.int(.rows) == 128)
        #expect(file.dataSet.int(.columns) == 160)
        #expect(file.dataSet.int(.bitsStored) == 10)
        // 10-bit pixels: every little-endian word must stay below 1024 once swapped.
        let pixels = file.dataSet[.pixelData]!.bytes
        let words = stride(from: 0, to: pixels.count, by: 2).map { UInt16(pixels[$0]) | UInt16(pixels[$0 + 1]) << 8 }
        #expect(words.allSatisfy { $0 < 1024 })
        #expect(Set(words).count > 50)
    }

    @Test("a bare dataset without preamble or meta reads as Implicit VR Little Endian")
    func bareDataset() throws {
        let file = try DicomFile.read(Fixtures.bytes("valid", "no_preamble_implicit.dcm"))
        #expect(file.meta.isEmpty)
        #expect(file.transferSyntax == .implicitVRLittleEndian)
        #expect(file.dataSet.string(.modality) == "CT")
    }

    @Test("encapsulated pixel data keeps its offset table and fragments")
    func encapsulatedFragments() throws {
        let file = try DicomFile.read(Fixtures.bytes("valid", "mf_rle.dcm"))
        let fragments = try #require(file.dataSet[.pixelData]?.fragments)
        #expect(fragments.fragments.count == 3)
        #expect(fragments.offsetTable.count == 12)
        let extended = try DicomFile.read(Fixtures.bytes("valid", "mf_extended_offset.dcm"))
        #expect(extended.dataSet[.extendedOffsetTable]?.bytes.count == 4 * 8)
        #expect(extended.dataSet[.pixelData]?.fragments?.offsetTable.isEmpty == true)
    }

    @Test("sequences of defined and undefined length, nested, and UN of undefined length")
    func sequences() throws {
        let file = try DicomFile.read(Fixtures.bytes("valid", "sequences.dcm"))
        let studies = try #require(file.dataSet[.referencedStudySequence])
        #expect(studies.items.count == 2)
        #expect(!studies.undefinedLength)
        let private_ = try #require(file.dataSet[Tag(0x0011, 0x1010)])
        #expect(private_.vr == .UN)
        #expect(private_.undefinedLength)
        #expect(private_.items.count == 2)
        #expect(private_.items[0].dataSet.string(.codeMeaning) == "Brain")
        let undefined = file.dataSet.elements.filter { $0.vr == .SQ && $0.undefinedLength }
        #expect(!undefined.isEmpty)
        let nestedDepth = undefined.map { depth($0) }.max() ?? 0
        #expect(nestedDepth >= 2)
    }

    private func depth(_ element: Element) -> Int {
        1 + (element.items.flatMap { $0.dataSet.elements }.filter { $0.vr == .SQ }.map(depth).max() ?? 0)
    }

    @Test("private creators, odd lengths and wrong group lengths are kept as they are")
    func oddAndPrivate() throws {
        let file = try DicomFile.read(Fixtures.bytes("valid", "odd_and_private.dcm"))
        #expect(file.dataSet.string(Tag(0x0009, 0x0010)) == "STRATA TEST")
        #expect(file.dataSet[Tag(0x0009, 0x0010)]?.vr == .LO)
        #expect(file.dataSet[.institutionName]!.bytes.count % 2 == 1)
        #expect(file.dataSet[Tag(0x0008, 0x0000)] != nil)
        #expect(file.meta[.fileMetaInformationGroupLength] == nil)
        #expect(file.meta.string(.transferSyntaxUID) == TransferSyntax.explicitVRLittleEndian.uid)
    }

    @Test("patient names decode in Latin-1 and UTF-8")
    func characterSets() throws {
        let latin1 = try DicomFile.read(Fixtures.bytes("valid", "latin1_name.dcm"))
        #expect(latin1.dataSet.string(.patientName) == "Müller^Jürgen")
        let utf8 = try DicomFile.read(Fixtures.bytes("valid", "utf8_name.dcm"))
        #expect(utf8.dataSet.string(.patientName) == "Wang^XiaoDong=王^小东")
        // Without a Specific Character Set, ASCII reads as itself and bytes above 0x7F as Latin-1 (not as broken UTF-8).
        #expect(SpecificCharacterSet.default.decode(Array("DOE^JOHN".utf8)) == "DOE^JOHN")
        #expect(SpecificCharacterSet.default.decode([0x44, 0xE9, 0x6A, 0xE0]) == "Déjà")
    }
}
