import Codecs
import Testing

@Suite("JPEG-LS lossless through CharLS")
struct JPEGLSTests {
    @Test("native images round-trip bit for bit", arguments: ["ct_implicit_le.dcm", "mr_explicit_le.dcm", "cr_explicit_be.dcm", "us_rgb_explicit_le.dcm", "mf_deflated.dcm"])
    func roundTrip(name: String) throws {
        let image = try CodecFixtures.frames(name)
        for frame in image.frames {
            let encoded = try JPEGLS.encode(frame, image.description)
            #expect(encoded.count < frame.count, "lossless coding should compress a real image")
            #expect(try JPEGLS.decode(encoded, image.description) == frame)
        }
    }

    @Test("a signed 12-bit CT is coded with 12 bits and negative values come back sign-extended")
    func signedCT() throws {
        let image = try CodecFixtures.frames("ct_implicit_le.dcm")
        #expect(image.description.signed)
        let values = NativeSamples.read(image.frames[0], image.description)
        #expect(values.contains { $0 < 0 })
        let encoded = try JPEGLS.encode(image.frames[0], image.description)
        // SOF55 (FF F7) then Lf (2 bytes) then P, the sample precision.
        let sof = try #require(encoded.indices.dropLast().first { encoded[$0] == 0xFF && encoded[$0 + 1] == 0xF7 })
        #expect(encoded[sof + 4] == 12)
        #expect(NativeSamples.read(try JPEGLS.decode(encoded, image.description), image.description) == values)
    }

    @Test("the fixtures that arrived as JPEG-LS and JPEG 2000 decode to pydicom's pixels", arguments: ["ct_jpegls", "ct_j2k"])
    func decodesReceived(name: String) throws {
        let received = try CodecFixtures.frames(name + ".dcm")
        #expect(received.frames == [try CodecFixtures.expected(name)])
    }

    @Test("corrupt JPEG-LS data is an error, not a crash")
    func corrupt() throws {
        let image = try CodecFixtures.frames("mr_explicit_le.dcm")
        let encoded = try JPEGLS.encode(image.frames[0], image.description)
        for cut in stride(from: 0, to: encoded.count, by: max(1, encoded.count / 50)) {
            _ = try? JPEGLS.decode(Array(encoded[..<cut]), image.description)
        }
        #expect(throws: CodecError.self) { try JPEGLS.decode([0xFF, 0xD8, 1, 2, 3], image.description) }
    }
}
