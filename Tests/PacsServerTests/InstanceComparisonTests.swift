import DICOM
import Testing
@testable import PacsServer

@Suite("A re-sent instance is the stored one, whatever its transfer syntax; another object under its UID is not")
struct InstanceComparisonTests {
    static func file(_ name: String) throws -> DicomFile { try DicomFile.read(try Repository.fixture(name)) }

    static func encoded(_ dataSet: DataSet, _ syntax: TransferSyntax) throws -> [UInt8] {
        try DicomFile.wrapping(dataSet, transferSyntax: syntax).encoded()
    }

    @Test("the same instance in another syntax (pixels decoded), or with its sequences of other lengths, is the same")
    func same() throws {
        let stored = try Repository.fixture("ct_explicit_le.dcm")
        let native = try Self.file("ct_explicit_le.dcm").dataSet
        #expect(try InstanceComparison.difference(stored: stored, received: try Self.encoded(native, .implicitVRLittleEndian)) == nil)
        // The same pixels JPEG-LS coded: the codec's decoding is compared, not the bytes.
        let jls = try CodecWork.perform(.derive(existing: [], policy: try Policies.load(from: Repository.policies).get().compression), [stored])
        guard case .derived(let files, _) = jls.0, let index = files.firstIndex(where: { $0.variant == "jpegls" }) else {
            Issue.record("no JPEG-LS copy: \(jls.0)")
            return
        }
        #expect(try InstanceComparison.difference(stored: stored, received: jls.1[index]) == nil)
        let sequences = try Repository.fixture("sequences.dcm")
        var undefined = try DicomFile.read(sequences).dataSet
        for element in undefined.elements where element.vr == .SQ {
            undefined.set(Element(tag: element.tag, vr: .SQ, value: .items(element.items.map { Item($0.dataSet, undefinedLength: true) }),
                                  undefinedLength: true))
        }
        #expect(try InstanceComparison.difference(stored: sequences, received: try Self.encoded(undefined, .explicitVRLittleEndian)) == nil)
    }

    @Test("another value of an attribute, or other pixels, is another object, and the difference says what")
    func different() throws {
        let stored = try Repository.fixture("ct_explicit_le.dcm")
        var renamed = try Self.file("ct_explicit_le.dcm").dataSet
        renamed.set(.patientName, .PN, "Other^Patient")
        #expect(try InstanceComparison.difference(stored: stored, received: try Self.encoded(renamed, .explicitVRLittleEndian))
                == "PatientName (0010,0010) differs")
        var repainted = try Self.file("ct_explicit_le.dcm").dataSet
        var pixels = repainted[.pixelData]!.bytes
        pixels[200] ^= 0x01
        repainted.set(Element(tag: .pixelData, vr: .OW, bytes: pixels))
        let difference = try InstanceComparison.difference(stored: stored, received: try Self.encoded(repainted, .implicitVRLittleEndian))
        #expect(difference == "the pixels of frame 1 differ (by up to 1)")
    }
}

@Suite("Identifiers a sender left out are supplied, recorded and the same every time")
struct IdentifierCoercionTests {
    @Test("missing Study and Series Instance UIDs are derived from what identifies them, and recorded as coerced")
    func supplied() throws {
        var dataSet = try DicomFile.read(try Repository.fixture("ct_explicit_le.dcm")).dataSet
        dataSet.remove(.studyInstanceUID)
        dataSet.remove(.seriesInstanceUID)
        let (coerced, supplied) = try #require(IdentifierCoercion.coerced(dataSet))
        #expect(supplied == [.studyInstanceUID, .seriesInstanceUID])
        let study = try #require(coerced.string(.studyInstanceUID)), series = try #require(coerced.string(.seriesInstanceUID))
        #expect(study.hasPrefix("2.25.") && series.hasPrefix("2.25.") && study != series && study.count <= 64)
        // The same study attributes give the same study: a second image of it lands beside the first.
        var sibling = dataSet
        sibling.set(.sopInstanceUID, .UI, "1.2.3.4.5")
        #expect(IdentifierCoercion.coerced(sibling)?.dataSet.string(.studyInstanceUID) == study)
        let record = try #require(coerced[.originalAttributesSequence]?.items.last?.dataSet)
        #expect(record.string(.reasonForTheAttributeModification) == "COERCE")
        #expect(record.string(.modifyingSystem) == "STRATA")
        let previous = try #require(record[.modifiedAttributesSequence]?.items.first?.dataSet)
        #expect(previous[.studyInstanceUID]?.bytes == [] && previous[.seriesInstanceUID]?.bytes == [])
    }

    @Test("a dataset with its identifiers is left alone")
    func untouched() throws {
        #expect(IdentifierCoercion.coerced(try DicomFile.read(try Repository.fixture("ct_explicit_le.dcm")).dataSet) == nil)
    }
}
