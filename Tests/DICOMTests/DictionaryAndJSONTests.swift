import DICOM
import Testing

@Suite("Dictionary, dataset values and DICOM JSON")
struct DictionaryAndJSONTests {
    @Test("tags have names from the standard's dictionary")
    func dictionary() {
        #expect(Tag.patientName == Tag(0x0010, 0x0010))
        #expect(Tag.patientName.keyword == "PatientName")
        #expect(DataDictionary.entry(for: .patientName)?.vr == .PN)
        #expect(DataDictionary.entry(for: Tag(0x6002, 0x3000))?.keyword == "OverlayData")
        #expect(DataDictionary.tag(forKeyword: "StudyInstanceUID") == .studyInstanceUID)
        #expect(DataDictionary.uid("1.2.840.10008.1.2.4.80")?.name.contains("JPEG-LS") == true)
        #expect(Tag(0x0009, 0x1001).keyword == nil)
    }

    @Test("values round-trip through the typed setters")
    func setters() {
        var dataSet = DataSet()
        dataSet.set(.patientName, .PN, "Doe^Jo")
        dataSet.set(.rows, uint16: 512)
        dataSet.set(.sliceThickness, .DS, "2.5")
        #expect(dataSet[.patientName]?.bytes.count == 6)
        dataSet.set(.patientID, .LO, "ABC")
        #expect(dataSet[.patientID]?.bytes == Array("ABC ".utf8))
        #expect(dataSet.string(.patientID) == "ABC")
        #expect(dataSet.int(.rows) == 512)
        #expect(dataSet.double(.sliceThickness) == 2.5)
        #expect(dataSet.elements.map(\.tag) == [.sliceThickness, .patientName, .patientID, .rows].sorted())
    }

    @Test("DICOM JSON: person names by component, numbers as numbers, tags as keys")
    func json() {
        var dataSet = DataSet()
        dataSet.set(.specificCharacterSet, .CS, "ISO_IR 192")
        dataSet.set(.patientName, .PN, "Wang^XiaoDong=王^小东", characterSet: .utf8)
        dataSet.set(.instanceNumber, .IS, "7")
        dataSet.set(.pixelSpacing, .DS, "0.5\\.75")
        dataSet.set(.rows, uint16: 64)
        dataSet.set(.imageType, .CS, "ORIGINAL\\PRIMARY")
        let json = DICOMJSONEncoder().encode(dataSet)
        #expect(json.contains(#""00100010":{"vr":"PN","Value":[{"Alphabetic":"Wang^XiaoDong","Ideographic":"王^小东"}]}"#))
        #expect(json.contains(#""00200013":{"vr":"IS","Value":[7]}"#))
        #expect(json.contains(#""00280030":{"vr":"DS","Value":[0.5,0.75]}"#))
        #expect(json.contains(#""00280010":{"vr":"US","Value":[64]}"#))
        #expect(json.contains(#""00080008":{"vr":"CS","Value":["ORIGINAL","PRIMARY"]}"#))
    }

    @Test("DICOM JSON gives pixel data as a BulkDataURI when asked")
    func bulkData() throws {
        let file = try DicomFile.read(Fixtures.bytes("valid", "ct_explicit_le.dcm"))
        let json = DICOMJSONEncoder(bulkDataURI: { path in path.last == .pixelData ? "http://x/bulk" : nil }).encode(file.dataSet)
        #expect(json.contains(#""7FE00010":{"vr":"OW","BulkDataURI":"http://x/bulk"}"#))
    }

    @Test("a dataset prints as tag, VR, keyword and value")
    func printing() throws {
        let file = try DicomFile.read(Fixtures.bytes("valid", "ct_explicit_le.dcm"))
        let text = file.dataSet.description
        #expect(text.contains("(0010,0010) PN PatientName"))
        #expect(text.contains("Doe^John"))
        #expect(text.contains("(7FE0,0010) OW PixelData"))
    }
}
