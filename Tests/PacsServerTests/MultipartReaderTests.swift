import NIOCore
import Testing
@testable import PacsServer

@Suite("Multipart bodies read as they stream in")
struct MultipartReaderTests {
    private let body = Array(("preamble\r\n--xyz\r\nContent-Type: application/dicom\r\n\r\nfirst part\r\n--xyz\r\n"
        + "Content-Type: application/dicom\r\n\r\nsecond\r\n--x\r\n--xyz--\r\n").utf8)

    @Test("whatever the chunk size, the same parts come out, and the body ends at the closing delimiter", arguments: [1, 2, 3, 7, 64, 4096])
    func chunks(size: Int) throws {
        var reader = MultipartReader(boundary: "xyz", maximumPartSize: 1 << 20)
        var parts: [MultipartReader.Part] = []
        for start in stride(from: 0, to: body.count, by: size) {
            parts += try reader.feed(ByteBuffer(bytes: body[start..<min(body.count, start + size)]))
        }
        #expect(reader.finished)
        #expect(parts.map { String(decoding: $0.body, as: UTF8.self) } == ["first part", "second\r\n--x"])
        #expect(parts.allSatisfy { $0.headers["content-type"] == "application/dicom" })
    }

    @Test("a part without headers keeps its whole body, even one holding a blank line")
    func partWithoutHeaders() throws {
        let body = Array("--xyz\r\n\r\nKey: value\r\n\r\nrest\r\n--xyz--\r\n".utf8)
        var reader = MultipartReader(boundary: "xyz", maximumPartSize: 1 << 20)
        let parts = try reader.feed(ByteBuffer(bytes: body))
        #expect(parts.map { String(decoding: $0.body, as: UTF8.self) } == ["Key: value\r\n\r\nrest"])
        #expect(parts.first?.headers.isEmpty == true)
    }

    @Test("a part larger than the limit is refused, whether it arrives whole or in pieces", arguments: [100, 100_000])
    func limit(chunk: Int) {
        let large = Array("--xyz\r\nContent-Type: application/dicom\r\n\r\n".utf8) + Array(repeating: UInt8(7), count: 50_000)
            + Array("\r\n--xyz--\r\n".utf8)
        var reader = MultipartReader(boundary: "xyz", maximumPartSize: 10_000)
        #expect(throws: MultipartReader.Problem.self) {
            for start in stride(from: 0, to: large.count, by: chunk) {
                _ = try reader.feed(ByteBuffer(bytes: large[start..<min(large.count, start + chunk)]))
            }
        }
    }
}
