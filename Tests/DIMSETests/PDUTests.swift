import DICOM
@testable import DIMSE
import NIOCore
import NIOEmbedded
import Testing

@Suite("Upper-layer PDUs: encoding, decoding, refusal of malformed input")
struct PDUTests {
    private func roundTrip(_ pdu: PDU) throws -> PDU {
        var buffer = ByteBuffer()
        pdu.write(to: &buffer)
        #expect(buffer.getInteger(at: 2, as: UInt32.self) == UInt32(buffer.readableBytes - 6))
        let type = buffer.readInteger(as: UInt8.self)!
        buffer.moveReaderIndex(forwardBy: 5)
        return try PDU.parse(type: type, body: &buffer)
    }

    @Test("an A-ASSOCIATE-RQ with contexts and role selection survives the wire")
    func associateRequest() throws {
        let request = AssociateRequest(calledAE: "STRATA", callingAE: "GETSCU", contexts: [
            PresentationContextProposal(id: 1, abstractSyntax: "1.2.840.10008.5.1.4.1.2.2.3", transferSyntaxes: ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"]),
            PresentationContextProposal(id: 3, abstractSyntax: "1.2.840.10008.5.1.4.1.1.2", transferSyntaxes: ["1.2.840.10008.1.2.4.80"]),
        ], user: UserInformation(maximumLength: 16384, implementationClassUID: "1.2.3", implementationVersionName: "TEST",
                                 roles: [RoleSelection(sopClassUID: "1.2.840.10008.5.1.4.1.1.2", scu: false, scp: true)]))
        #expect(try roundTrip(.associateRequest(request)) == .associateRequest(request))
    }

    /// What the decoder delivers for `bytes` arriving in reads of `read` bytes (the whole at once by default).
    private func decoded(_ bytes: ByteBuffer, reads read: Int = .max, limit: Int = 1 << 20) throws -> [PDU] {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(PDUDecoder(maximumLength: limit)))
        var bytes = bytes
        while bytes.readableBytes > 0 {
            try channel.writeInbound(bytes.readSlice(length: min(read, bytes.readableBytes))!)
        }
        var pdus: [PDU] = []
        while let pdu = try channel.readInbound(as: PDU.self) { pdus.append(pdu) }
        return pdus
    }

    private func encoded(_ pdus: PDU...) -> ByteBuffer {
        var buffer = ByteBuffer()
        for pdu in pdus { pdu.write(to: &buffer) }
        return buffer
    }

    @Test("P-DATA-TF with several PDVs, A-RELEASE, A-ABORT and A-ASSOCIATE-RJ round-trip")
    func others() throws {
        let command = PDV(contextID: 1, isCommand: true, isLast: true, data: ByteBuffer(bytes: [1, 2, 3]))
        let data = PDV(contextID: 1, isCommand: false, isLast: false, data: ByteBuffer(repeating: 7, count: 1000))
        #expect(try decoded(encoded(.data([command, data]), .releaseRequest)) == [.data([command]), .data([data]), .releaseRequest])
        for pdu in [PDU.releaseRequest, .releaseResponse, .abort(.invalidParameter), .associateReject(.callingAENotRecognized)] {
            #expect(try roundTrip(pdu) == pdu)
        }
    }

    @Test("a P-DATA-TF's PDVs leave in pieces as their bytes arrive: joined they are the PDVs sent, and only the piece that ends a last PDV says last")
    func dataArrivesInPieces() throws {
        let first = PDV(contextID: 3, isCommand: false, isLast: false, data: ByteBuffer(bytes: (0..<5000).map { UInt8(truncatingIfNeeded: $0) }))
        let last = PDV(contextID: 3, isCommand: false, isLast: true, data: ByteBuffer(bytes: (0..<3000).map { UInt8(truncatingIfNeeded: $0 * 7) }))
        let empty = PDV(contextID: 5, isCommand: true, isLast: true, data: ByteBuffer())
        for read in [1, 5, 6, 7, 1000, 4096] {
            let pieces = try decoded(encoded(.data([first, last]), .data([empty]), .releaseRequest), reads: read)
            #expect(pieces.last == .releaseRequest)
            let pdvs = pieces.dropLast().flatMap { pdu -> [PDV] in
                guard case let .data(pdvs) = pdu else { return [] }
                return pdvs
            }
            #expect(pdvs.count == pieces.count - 1)
            #expect(pdvs.filter(\.isLast).count == 2)
            let joined = { (context: UInt8) in pdvs.filter { $0.contextID == context }.reduce(into: ByteBuffer()) { $0.writeImmutableBuffer($1.data) } }
            #expect(joined(3) == ByteBuffer(bytes: Array(first.data.readableBytesView) + Array(last.data.readableBytesView)))
            #expect(pdvs.last { $0.contextID == 3 }?.isLast == true)
            #expect(pdvs.filter { $0.contextID == 3 }.dropLast().allSatisfy { !$0.isLast })
            #expect(pdvs.last == empty)
        }
    }

    @Test("malformed variable fields are errors: PDV length past the end, an item header cut by the PDU's end, truncated items, a PDU over the limit")
    func malformed() {
        // A P-DATA-TF of 7 bytes whose PDV claims 4096, then one of 3 bytes (no room for an item header).
        #expect(throws: PDUError.self) { try decoded(ByteBuffer(bytes: [4, 0, 0, 0, 0, 7, 0, 0, 0x10, 0, 1, 3, 9])) }
        #expect(throws: PDUError.self) { try decoded(ByteBuffer(bytes: [4, 0, 0, 0, 0, 3, 1, 2, 3])) }
        #expect(throws: PDUError.tooLong(type: 4, length: 4096, limit: 1024)) {
            try decoded(ByteBuffer(bytes: [4, 0, 0, 0, 0x10, 0]), limit: 1024)
        }
        var request = ByteBuffer(bytes: [0, 1, 0, 0] + Array(repeating: 0x41, count: 32) + Array(repeating: 0, count: 32) + [0x20, 0, 0x40, 0])
        #expect(throws: PDUError.self) { try PDU.parse(type: 0x01, body: &request) }
        var unknown = ByteBuffer()
        #expect(throws: PDUError.unknownType(0x09)) { try PDU.parse(type: 0x09, body: &unknown) }
    }

    @Test("commands and datasets are reassembled from fragments; a dataset on an unaccepted context is refused")
    func assembly() throws {
        var command = DataSet()
        command.set(.commandField, uint16: CommandField.cEchoRequest.rawValue)
        command.set(.messageID, uint16: 7)
        command.set(.affectedSOPClassUID, .UI, "1.2.840.10008.1.1")
        let encoded = try DIMSEMessage(contextID: 1, command: command).encodedCommand()
        var assembler = MessageAssembler()
        #expect(try assembler.add(PDV(contextID: 1, isCommand: true, isLast: false, data: ByteBuffer(bytes: encoded.prefix(10))), accepted: { $0 == 1 }) == nil)
        let message = try #require(try assembler.add(PDV(contextID: 1, isCommand: true, isLast: true, data: ByteBuffer(bytes: encoded.dropFirst(10))), accepted: { $0 == 1 }))
        #expect(message.commandField == .cEchoRequest)
        #expect(message.messageID == 7)
        #expect(throws: PDUError.self) {
            try assembler.add(PDV(contextID: 5, isCommand: true, isLast: true, data: ByteBuffer(bytes: encoded)), accepted: { $0 == 1 })
        }
    }

    /// Sees a dataset's fragments as the assembler hands them on.
    private final class Fragments: DataSetObserver, @unchecked Sendable {
        var seen: [ByteBuffer] = []
        func received(_ fragment: ByteBuffer) { seen.append(fragment) }
    }

    @Test("a dataset arriving in small pieces of large read buffers is joined whole, and no piece keeps a mostly empty buffer alive")
    func smallPiecesAreCompacted() throws {
        var command = DataSet()
        command.set(.commandField, uint16: CommandField.cStoreRequest.rawValue)
        command.set(.messageID, uint16: 3)
        let encoded = try DIMSEMessage(contextID: 1, command: command, dataSet: [0]).encodedCommand()  // says a dataset follows
        let fragments = Fragments()
        var assembler = MessageAssembler()
        #expect(try assembler.add(PDV(contextID: 1, isCommand: true, isLast: true, data: ByteBuffer(bytes: encoded)), accepted: { $0 == 1 },
                                  observer: { _, _ in fragments }) == nil)
        var read = ByteBufferAllocator().buffer(capacity: 65536)  // what a socket read of 1460 bytes may land in
        read.writeBytes((0..<1460).map { UInt8(truncatingIfNeeded: $0) })
        let whole = read.getSlice(at: 0, length: 1460)!
        var message: DIMSEMessage?
        for index in 0..<10 {
            message = try assembler.add(PDV(contextID: 1, isCommand: false, isLast: index == 9, data: whole), accepted: { $0 == 1 })
        }
        #expect(message?.dataSet == Array(repeating: Array(whole.readableBytesView), count: 10).flatMap { $0 })
        #expect(fragments.seen.count == 10)
        #expect(fragments.seen.allSatisfy { $0.storageCapacity < 2 * 1460 })
    }
}
