import DICOM
import Testing
import TestSupport

@Suite("Malformed input is an error, never a crash")
struct MalformedInputTests {
    @Test("every malformed fixture fails with a message naming a byte offset or the fault", arguments: Fixtures.malformed.map(\.lastPathComponent))
    func malformedFixture(name: String) throws {
        let bytes = try Fixtures.bytes("malformed", name)
        do {
            let file = try DicomFile.read(bytes)
            // A file that parses must still lack what an image needs (meta_only has no dataset).
            #expect(file.dataSet.string(.sopInstanceUID) == nil, "\(name) was accepted")
        } catch let error as DICOMError {
            #expect(!error.description.isEmpty)
        }
    }

    @Test("truncation reports the offset and tag")
    func truncated() throws {
        let error = #expect(throws: DICOMError.self) { try DicomFile.read(Fixtures.bytes("malformed", "truncated.dcm")) }
        #expect(error?.description.contains("byte 1212") == true)
        #expect(error?.description.contains("PixelData") == true)
    }

    @Test("an absurd length is refused before anything is allocated")
    func absurdLength() throws {
        // (0009,1000) OB with length 0xFFFFFFF0 and four bytes of data.
        var bytes: [UInt8] = [0x08, 0x00, 0x18, 0x00, 0x55, 0x49, 0x02, 0x00, 0x31, 0x00]
        bytes += [0x09, 0x00, 0x00, 0x10, 0x4F, 0x42, 0, 0, 0xF0, 0xFF, 0xFF, 0xFF, 1, 2, 3, 4]
        let error = #expect(throws: DICOMError.self) { try DicomFile.read(bytes) }
        guard case let .lengthPastEnd(offset, tag, length, available)? = error else {
            Issue.record("expected lengthPastEnd, got \(String(describing: error))")
            return
        }
        #expect(offset == 10)
        #expect(tag == Tag(0x0009, 0x1000))
        #expect(length == 0xFFFF_FFF0)
        #expect(available == 4)
    }

    @Test("deeply nested sequences stop at a limit instead of exhausting the stack")
    func nestingLimit() {
        // 200 levels of undefined-length SQ each holding one undefined-length item, explicit VR.
        var bytes: [UInt8] = [0x08, 0x00, 0x18, 0x00, 0x55, 0x49, 0x02, 0x00, 0x31, 0x00]
        for _ in 0..<200 {
            bytes += [0x08, 0x00, 0x15, 0x11, 0x53, 0x51, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]  // ReferencedSeriesSequence
            bytes += [0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]
        }
        let error = #expect(throws: DICOMError.self) { try DicomFile.read(bytes) }
        if case .nestingTooDeep? = error {} else { Issue.record("expected nestingTooDeep, got \(String(describing: error))") }
    }

    @Test("every prefix and 2000 seeded single-byte corruptions of a real file are refused with a DICOM error or read to a dataset that survives writing and reading again")
    func mutations() throws {
        let bytes = try Fixtures.bytes("valid", "sequences.dcm")
        var outcomes = (read: 0, refused: 0)
        func check(_ input: [UInt8], _ what: String) {
            do {
                let file = try DicomFile.read(input)
                let tags = file.dataSet.elements.map(\.tag)
                #expect(tags == tags.sorted(), "\(what): read with its elements out of order")
                let again = try DicomFile.read(try file.encoded())
                #expect(again.dataSet == file.dataSet, "\(what): read, but not to a dataset that survives writing and reading again")
                outcomes.read += 1
            } catch is DICOMError {
                outcomes.refused += 1
            } catch {
                Issue.record("\(what): refused with \(error), which is not a DICOMError")
            }
        }
        for cut in stride(from: 0, to: bytes.count, by: 7) {
            check(Array(bytes[..<cut]), "the first \(cut) bytes")
        }
        var generator = SplitMix(seed: 20261207)
        for _ in 0..<2000 {
            var mutated = bytes
            let position = Int.random(in: 128..<min(bytes.count, 3000), using: &generator)
            let value = UInt8.random(in: 0...255, using: &generator)
            mutated[position] = value
            check(mutated, "byte \(position) set to \(value)")
        }
        // Both outcomes happen: the corruptions reach the structure, not only values.
        #expect(outcomes.read > 0 && outcomes.refused > 0, "\(outcomes)")
    }
}
