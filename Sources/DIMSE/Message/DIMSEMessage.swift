import DICOM

/// A DIMSE message (PS3.7 6.3): a command set (group 0000, always Implicit VR Little Endian) and, when the
/// command says one follows, a dataset kept as the bytes received in the presentation context's syntax.
public struct DIMSEMessage: Sendable {
    public var contextID: UInt8
    public var command: DataSet
    public var dataSet: [UInt8]?
    /// What the service's observer made of the dataset while it arrived (see `DIMSEService.observer`).
    public var observer: DataSetObserver?

    public init(contextID: UInt8, command: DataSet, dataSet: [UInt8]? = nil) {
        self.contextID = contextID
        self.command = command
        self.dataSet = dataSet
    }

    public var commandField: CommandField? { command.int(.commandField).flatMap { CommandField(rawValue: UInt16($0)) } }
    public var messageID: UInt16 { UInt16(command.int(.messageID) ?? 0) }
    public var respondedMessageID: UInt16 { UInt16(command.int(.messageIDBeingRespondedTo) ?? 0) }
    public var status: UInt16 { UInt16(command.int(.status) ?? 0) }
    public var affectedSOPClassUID: String { command.string(.affectedSOPClassUID) ?? "" }
    public var affectedSOPInstanceUID: String { command.string(.affectedSOPInstanceUID) ?? "" }

    /// The command set as sent: Implicit VR Little Endian, group length first (PS3.7 E.1).
    public func encodedCommand() throws -> [UInt8] {
        var command = self.command
        command.set(.commandDataSetType, uint16: dataSet == nil ? 0x0101 : 0x0000)
        command.remove(.commandGroupLength)
        let body = try DataSetWriter.encode(command, explicitVR: false)
        var length = DataSet()
        length.set(.commandGroupLength, uint32: UInt32(body.count))
        return try DataSetWriter.encode(length, explicitVR: false) + body
    }

    // MARK: Building messages

    /// A response to `request`, with its status.
    public static func response(to request: DIMSEMessage, _ field: CommandField, status: UInt16,
                                sopInstanceUID: String? = nil, dataSet: [UInt8]? = nil,
                                configure: (inout DataSet) -> Void = { _ in }) -> DIMSEMessage {
        var command = DataSet()
        command.set(.commandField, uint16: field.rawValue)
        command.set(.messageIDBeingRespondedTo, uint16: request.messageID)
        if !request.affectedSOPClassUID.isEmpty { command.set(.affectedSOPClassUID, .UI, request.affectedSOPClassUID) }
        if let uid = sopInstanceUID ?? (request.affectedSOPInstanceUID.isEmpty ? nil : request.affectedSOPInstanceUID) {
            command.set(.affectedSOPInstanceUID, .UI, uid)
        }
        command.set(.status, uint16: status)
        configure(&command)
        return DIMSEMessage(contextID: request.contextID, command: command, dataSet: dataSet)
    }

    /// A request with a fresh message ID.
    public static func request(_ field: CommandField, contextID: UInt8, messageID: UInt16, sopClassUID: String,
                               dataSet: [UInt8]? = nil, configure: (inout DataSet) -> Void = { _ in }) -> DIMSEMessage {
        var command = DataSet()
        command.set(.commandField, uint16: field.rawValue)
        command.set(.messageID, uint16: messageID)
        command.set(.affectedSOPClassUID, .UI, sopClassUID)
        configure(&command)
        return DIMSEMessage(contextID: contextID, command: command, dataSet: dataSet)
    }
}
