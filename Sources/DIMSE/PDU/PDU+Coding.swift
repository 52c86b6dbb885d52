import NIOCore

// Reading and writing PDUs (PS3.8 9.3): a 6-byte header (type, reserved, 32-bit big-endian length),
// then the variable field. Every read is checked; a short or inconsistent field is a PDUError.

extension PDU {
    static let headerLength = 6

    /// Parses the variable field of a PDU of `type`, any but P-DATA-TF (`PDUDecoder` reads that as it arrives).
    static func parse(type: UInt8, body: inout ByteBuffer) throws -> PDU {
        switch type {
        case 0x01: return .associateRequest(try parseAssociateRequest(&body))
        case 0x02: return .associateAccept(try parseAssociateAccept(&body))
        case 0x03:
            try body.skip(1)
            let result = try body.byte(), source = try body.byte(), reason = try body.byte()
            return .associateReject(AssociateReject(permanent: result == 1, source: source, reason: reason))
        case 0x05: return .releaseRequest
        case 0x06: return .releaseResponse
        case 0x07:
            try body.skip(2)
            let source = try body.byte(), reason = try body.byte()
            return .abort(Abort(source: source, reason: reason))
        default:
            throw PDUError.unknownType(type)
        }
    }

    private static func parseHeaderAEs(_ body: inout ByteBuffer) throws -> (version: UInt16, called: String, calling: String) {
        let version = try body.uint16()
        try body.skip(2)
        let called = try body.aeTitle(), calling = try body.aeTitle()
        try body.skip(32)
        return (version, called, calling)
    }

    private static func parseAssociateRequest(_ body: inout ByteBuffer) throws -> AssociateRequest {
        let header = try parseHeaderAEs(&body)
        guard header.version & 1 == 1 else { throw PDUError.malformed("protocol version \(header.version)") }
        var request = AssociateRequest(calledAE: header.called, callingAE: header.calling, applicationContext: "", contexts: [],
                                       user: UserInformation(maximumLength: 0, implementationClassUID: ""))
        try forEachItem(&body) { type, item in
            switch type {
            case 0x10: request.applicationContext = item.uid()
            case 0x20:
                let id = try item.byte()
                try item.skip(3)
                var proposal = PresentationContextProposal(id: id, abstractSyntax: "", transferSyntaxes: [])
                try forEachItem(&item) { subType, sub in
                    if subType == 0x30 { proposal.abstractSyntax = sub.uid() }
                    if subType == 0x40 { proposal.transferSyntaxes.append(sub.uid()) }
                }
                request.contexts.append(proposal)
            case 0x50: request.user = try parseUserInformation(&item)
            default: break
            }
        }
        return request
    }

    private static func parseAssociateAccept(_ body: inout ByteBuffer) throws -> AssociateAccept {
        let header = try parseHeaderAEs(&body)
        var accept = AssociateAccept(calledAE: header.called, callingAE: header.calling, applicationContext: "", results: [],
                                     user: UserInformation(maximumLength: 0, implementationClassUID: ""))
        try forEachItem(&body) { type, item in
            switch type {
            case 0x10: accept.applicationContext = item.uid()
            case 0x21:
                let id = try item.byte()
                try item.skip(1)
                let outcome = PresentationContextResult.Outcome(rawValue: try item.byte()) ?? .noReason
                try item.skip(1)
                var syntax = ""
                try forEachItem(&item) { subType, sub in if subType == 0x40 { syntax = sub.uid() } }
                accept.results.append(PresentationContextResult(id: id, outcome: outcome, transferSyntax: syntax))
            case 0x50: accept.user = try parseUserInformation(&item)
            default: break
            }
        }
        return accept
    }

    private static func parseUserInformation(_ item: inout ByteBuffer) throws -> UserInformation {
        var user = UserInformation(maximumLength: 0, implementationClassUID: "")
        try forEachItem(&item) { type, sub in
            switch type {
            case 0x51: user.maximumLength = try sub.uint32()
            case 0x52: user.implementationClassUID = sub.uid()
            case 0x55: user.implementationVersionName = sub.uid()
            case 0x54:
                let length = Int(try sub.uint16())
                guard let uid = sub.readString(length: length) else { throw PDUError.malformed("role selection UID") }
                let scu = try sub.byte(), scp = try sub.byte()
                user.roles.append(RoleSelection(sopClassUID: uid.trimmingPadding(), scu: scu == 1, scp: scp == 1))
            default: break
            }
        }
        return user
    }

    /// Calls `body` for each item (type, reserved, 16-bit length, value) until the buffer is used up.
    private static func forEachItem(_ buffer: inout ByteBuffer, _ body: (UInt8, inout ByteBuffer) throws -> Void) throws {
        while buffer.readableBytes > 0 {
            let type = try buffer.byte()
            try buffer.skip(1)
            let length = Int(try buffer.uint16())
            guard var item = buffer.readSlice(length: length) else {
                throw PDUError.malformed("item 0x\(String(type, radix: 16)) of \(length) bytes with \(buffer.readableBytes) left")
            }
            try body(type, &item)
        }
    }

    // MARK: Writing

    func write(to out: inout ByteBuffer) {
        let start = out.writerIndex
        out.writeInteger(typeCode)
        out.writeInteger(UInt8(0))
        out.writeInteger(UInt32(0))  // length, patched below
        switch self {
        case let .associateRequest(request):
            Self.writeHeaderAEs(called: request.calledAE, calling: request.callingAE, to: &out)
            Self.writeItem(0x10, to: &out) { $0.writeString(request.applicationContext) }
            for context in request.contexts {
                Self.writeItem(0x20, to: &out) { item in
                    item.writeBytes([context.id, 0, 0, 0])
                    Self.writeItem(0x30, to: &item) { $0.writeString(context.abstractSyntax) }
                    for syntax in context.transferSyntaxes { Self.writeItem(0x40, to: &item) { $0.writeString(syntax) } }
                }
            }
            Self.writeUser(request.user, to: &out)
        case let .associateAccept(accept):
            Self.writeHeaderAEs(called: accept.calledAE, calling: accept.callingAE, to: &out)
            Self.writeItem(0x10, to: &out) { $0.writeString(accept.applicationContext) }
            for result in accept.results {
                Self.writeItem(0x21, to: &out) { item in
                    item.writeBytes([result.id, 0, result.outcome.rawValue, 0])
                    Self.writeItem(0x40, to: &item) { $0.writeString(result.transferSyntax) }
                }
            }
            Self.writeUser(accept.user, to: &out)
        case let .associateReject(reject):
            out.writeBytes([0, reject.permanent ? 1 : 2, reject.source, reject.reason])
        case let .data(pdvs):
            for pdv in pdvs {
                out.writeInteger(UInt32(pdv.data.readableBytes + 2))
                out.writeInteger(pdv.contextID)
                out.writeInteger(UInt8((pdv.isCommand ? 1 : 0) | (pdv.isLast ? 2 : 0)))
                out.writeImmutableBuffer(pdv.data)
            }
        case .releaseRequest, .releaseResponse:
            out.writeInteger(UInt32(0))
        case let .abort(abort):
            out.writeBytes([0, 0, abort.source, abort.reason])
        }
        out.setInteger(UInt32(out.writerIndex - start - Self.headerLength), at: start + 2)
    }

    var typeCode: UInt8 {
        switch self {
        case .associateRequest: return 0x01
        case .associateAccept: return 0x02
        case .associateReject: return 0x03
        case .data: return 0x04
        case .releaseRequest: return 0x05
        case .releaseResponse: return 0x06
        case .abort: return 0x07
        }
    }

    private static func writeHeaderAEs(called: String, calling: String, to out: inout ByteBuffer) {
        out.writeInteger(UInt16(1))
        out.writeInteger(UInt16(0))
        for title in [called, calling] {
            let bytes = Array(title.utf8.prefix(16))
            out.writeBytes(bytes + Array(repeating: 0x20, count: 16 - bytes.count))
        }
        out.writeRepeatingByte(0, count: 32)
    }

    private static func writeUser(_ user: UserInformation, to out: inout ByteBuffer) {
        writeItem(0x50, to: &out) { item in
            writeItem(0x51, to: &item) { $0.writeInteger(user.maximumLength) }
            writeItem(0x52, to: &item) { $0.writeString(user.implementationClassUID) }
            for role in user.roles {
                writeItem(0x54, to: &item) { sub in
                    sub.writeInteger(UInt16(role.sopClassUID.utf8.count))
                    sub.writeString(role.sopClassUID)
                    sub.writeBytes([role.scu ? 1 : 0, role.scp ? 1 : 0])
                }
            }
            if let name = user.implementationVersionName { writeItem(0x55, to: &item) { $0.writeString(name) } }
        }
    }

    private static func writeItem(_ type: UInt8, to out: inout ByteBuffer, _ body: (inout ByteBuffer) -> Void) {
        out.writeInteger(type)
        out.writeInteger(UInt8(0))
        let lengthAt = out.writerIndex
        out.writeInteger(UInt16(0))
        body(&out)
        out.setInteger(UInt16(out.writerIndex - lengthAt - 2), at: lengthAt)
    }
}

extension ByteBuffer {
    mutating func byte() throws -> UInt8 {
        guard let value = readInteger(as: UInt8.self) else { throw PDUError.malformed("field past the end") }
        return value
    }

    mutating func uint16() throws -> UInt16 {
        guard let value = readInteger(as: UInt16.self) else { throw PDUError.malformed("field past the end") }
        return value
    }

    mutating func uint32() throws -> UInt32 {
        guard let value = readInteger(as: UInt32.self) else { throw PDUError.malformed("field past the end") }
        return value
    }

    mutating func skip(_ count: Int) throws {
        guard readableBytes >= count else { throw PDUError.malformed("field past the end") }
        moveReaderIndex(forwardBy: count)
    }

    mutating func aeTitle() throws -> String {
        guard let text = readString(length: 16) else { throw PDUError.malformed("AE title past the end") }
        return text.trimmingPadding()
    }

    /// The rest of the buffer as a UID, without the NUL or space padding some senders add.
    mutating func uid() -> String {
        (readString(length: readableBytes) ?? "").trimmingPadding()
    }
}

extension String {
    /// Without the leading and trailing spaces and NULs that pad AE titles and UIDs.
    func trimmingPadding() -> String {
        var view = Substring(self)
        while let first = view.first, first == " " || first == "\0" { view.removeFirst() }
        while let last = view.last, last == " " || last == "\0" { view.removeLast() }
        return String(view)
    }
}

/// Frames bytes into PDUs, refusing unknown types and lengths beyond the limit before buffering them.
/// A P-DATA-TF is not held whole: each PDV leaves in pieces, as its bytes arrive, as views of the received buffers
/// (`.data` with one PDV each), so an image is neither gathered PDU by PDU nor copied out of what the socket read.
public struct PDUDecoder: ByteToMessageDecoder {
    public typealias InboundOut = PDU
    let maximumLength: Int
    /// Bytes of the P-DATA-TF being read that have not arrived yet (0 between PDUs).
    private var dataLeft = 0
    /// The PDV item being read: its context, its message control header and its bytes still to come.
    private var item: (contextID: UInt8, control: UInt8, left: Int)?
    /// PDV item header: item length (4 bytes), presentation context ID, message control header.
    private static let itemHeaderLength = 6

    public init(maximumLength: Int) {
        self.maximumLength = maximumLength
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if dataLeft > 0 { return try decodeData(context: context, buffer: &buffer) }
        guard buffer.readableBytes >= PDU.headerLength,
              let type = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
              let length = buffer.getInteger(at: buffer.readerIndex + 2, as: UInt32.self) else { return .needMoreData }
        guard (0x01...0x07).contains(type) else { throw PDUError.unknownType(type) }
        guard Int(length) <= maximumLength else { throw PDUError.tooLong(type: type, length: length, limit: maximumLength) }
        if type == 0x04 {
            buffer.moveReaderIndex(forwardBy: PDU.headerLength)
            dataLeft = Int(length)
            return .continue
        }
        guard buffer.readableBytes >= PDU.headerLength + Int(length) else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: PDU.headerLength)
        var body = buffer.readSlice(length: Int(length))!
        context.fireChannelRead(wrapInboundOut(try PDU.parse(type: type, body: &body)))
        return .continue
    }

    /// Inside a P-DATA-TF (PS3.8 9.3.5): the next PDV item header, or the next piece of the current item's data.
    private mutating func decodeData(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        var current: (contextID: UInt8, control: UInt8, left: Int)
        if let item {
            current = item
        } else {
            guard dataLeft >= Self.itemHeaderLength else { throw PDUError.malformed("P-DATA-TF ends inside a PDV item header") }
            guard buffer.readableBytes >= Self.itemHeaderLength else { return .needMoreData }
            let length = Int(buffer.readInteger(as: UInt32.self)!)
            guard length >= 2, length + 4 <= dataLeft else {
                throw PDUError.malformed("PDV length \(length) with \(dataLeft - 4) bytes left in the P-DATA-TF")
            }
            current = (buffer.readInteger(as: UInt8.self)!, buffer.readInteger(as: UInt8.self)!, length - 2)
            dataLeft -= Self.itemHeaderLength
        }
        let piece = buffer.readSlice(length: min(current.left, buffer.readableBytes))!
        guard piece.readableBytes > 0 || current.left == 0 else {
            item = current
            return .needMoreData
        }
        current.left -= piece.readableBytes
        dataLeft -= piece.readableBytes
        item = current.left > 0 ? current : nil
        let pdv = PDV(contextID: current.contextID, isCommand: current.control & 1 == 1,
                      isLast: current.left == 0 && current.control & 2 == 2, data: piece)
        context.fireChannelRead(wrapInboundOut(.data([pdv])))
        return .continue
    }
}

public struct PDUEncoder: MessageToByteEncoder {
    public typealias OutboundIn = PDU

    public init() {}

    public func encode(data: PDU, out: inout ByteBuffer) throws {
        data.write(to: &out)
    }
}
