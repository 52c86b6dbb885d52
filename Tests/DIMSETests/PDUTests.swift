import DICOM
@testable import DIMSE
import NIOCore
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

    @Test("P-DATA-TF with several PDVs, A-RELEASE, A-ABORT and A-ASSOCIATE-RJ round-trip")
    func others() throws {
        let data = PDU.data([PDV(contextID: 1, isCommand: true, isLast: true, data: [1, 2, 3]),
                             PDV(contextID: 1, isCommand: false, isLast: false, data: Array(repeating: 7, count: 1000))])
        for pdu in [data, .releaseRequest, .releaseResponse, .abort(.invalidParameter), .associateReject(.callingAENotRecognized)] {
            #expect(try roundTrip(pdu) == pdu)
        }
    }

    @Test("malformed variable fields are errors: PDV length past the end, truncated items")
    func malformed() {
        var pdv = ByteBuffer(bytes: [0, 0, 0x10, 0, 1, 3, 9])  // PDV claims 4096 bytes
        #expect(throws: PDUError.self) { try PDU.parse(type: 0x04, body: &pdv) }
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
        #expect(try assembler.add(PDV(contextID: 1, isCommand: true, isLast: false, data: Array(encoded.prefix(10))), accepted: { $0 == 1 }) == nil)
        let message = try #require(try assembler.add(PDV(contextID: 1, isCommand: true, isLast: true, data: Array(encoded.dropFirst(10))), accepted: { $0 == 1 }))
        #expect(message.commandField == .cEchoRequest)
        #expect(message.messageID == 7)
        #expect(throws: PDUError.self) {
            try assembler.add(PDV(contextID: 5, isCommand: true, isLast: true, data: encoded), accepted: { $0 == 1 })
        }
    }
}
