import Foundation
import Glibc
import Testing
@testable import PacsServer

@Suite("The pipe to a codec worker: messages whole, lengths bounded, a dead or silent peer noticed")
struct CodecChannelTests {
    /// A pipe's reading and writing ends as channels.
    static func pipe() -> (reader: CodecChannel, writer: CodecChannel) {
        var ends: [Int32] = [0, 0]
        _ = Glibc.pipe(&ends)
        return (CodecChannel(descriptor: ends[0]), CodecChannel(descriptor: ends[1]))
    }

    @Test("a request and its files arrive as sent")
    func roundTrip() throws {
        let (reader, writer) = Self.pipe()
        defer { close(reader.descriptor); close(writer.descriptor) }
        let files: [[UInt8]] = [[1, 2, 3], [], Array(repeating: 7, count: 10_000)]
        Thread.detachNewThread { try? writer.send(CodecRequest.frames(numbers: [1, 3]), files: files) }
        let (request, received) = try reader.receive(CodecRequest.self, deadline: .now + .seconds(10))
        guard case let .frames(numbers) = request else { Issue.record("got \(request)"); return }
        #expect(numbers == [1, 3] && received == files)
    }

    @Test("a length past its bound is refused before anything is allocated for it")
    func bounded() throws {
        let (reader, writer) = Self.pipe()
        defer { close(reader.descriptor); close(writer.descriptor) }
        var huge = UInt32.max.littleEndian
        _ = write(writer.descriptor, &huge, 4)
        #expect(throws: CodecChannel.Failure.malformed("header of \(UInt32.max) bytes")) {
            try reader.receive(CodecRequest.self, deadline: .now + .seconds(10))
        }
    }

    @Test("a peer that closed its end is `closed`; one that says nothing in time is `timedOut`")
    func closedAndSilent() throws {
        let (reader, writer) = Self.pipe()
        #expect(throws: CodecChannel.Failure.timedOut) { try reader.receive(CodecRequest.self, deadline: .now + .milliseconds(200)) }
        close(writer.descriptor)
        #expect(throws: CodecChannel.Failure.closed) { try reader.receive(CodecRequest.self, deadline: .now + .seconds(10)) }
        close(reader.descriptor)
    }
}
