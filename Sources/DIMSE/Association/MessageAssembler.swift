import DICOM
import NIOCore

/// Joins PDV fragments into DIMSE messages: a command (fragments until the last), then, when the command
/// says so, its dataset on the same presentation context.
struct MessageAssembler {
    private var command: [UInt8] = []
    private var pending: (contextID: UInt8, command: DataSet, observer: DataSetObserver?)?
    /// The dataset's fragments so far (views of the received buffers), joined once when the last arrives: the one
    /// copy a dataset's bytes make between the socket and the service.
    private var fragments: [ByteBuffer] = []

    /// Adds one PDV; returns a message when it completes one. `observer` is asked (with the context ID) for a command
    /// whose dataset follows.
    mutating func add(_ pdv: PDV, accepted: (UInt8) -> Bool, observer: (DataSet, UInt8) -> DataSetObserver? = { _, _ in nil }) throws -> DIMSEMessage? {
        guard accepted(pdv.contextID) else { throw PDUError.malformed("PDV on presentation context \(pdv.contextID), which was not accepted") }
        if pdv.isCommand {
            guard pending == nil else { throw PDUError.malformed("a command fragment arrived where a dataset was expected") }
            command += pdv.data.readableBytesView
            guard pdv.isLast else { return nil }
            defer { command = [] }
            let parsed: DataSet
            do {
                parsed = try DataSet.read(command, syntax: .implicitVRLittleEndian)
            } catch {
                throw PDUError.malformed("command set: \(error)")
            }
            if parsed.int(.commandDataSetType) == 0x0101 {
                return DIMSEMessage(contextID: pdv.contextID, command: parsed)
            }
            pending = (pdv.contextID, parsed, observer(parsed, pdv.contextID))
            return nil
        }
        guard let (contextID, parsed, observer) = pending, contextID == pdv.contextID else {
            throw PDUError.malformed("a dataset fragment arrived without its command")
        }
        // A piece that fills less than half the buffer the socket read it into is copied out: a slow sender's many
        // small reads must not keep many mostly empty buffers alive while a large dataset arrives.
        let fragment = pdv.data.readableBytes * 2 >= pdv.data.storageCapacity ? pdv.data : ByteBuffer(bytes: pdv.data.readableBytesView)
        fragments.append(fragment)
        observer?.received(fragment)
        guard pdv.isLast else { return nil }
        defer {
            fragments = []
            pending = nil
        }
        var dataSet: [UInt8] = []
        dataSet.reserveCapacity(fragments.reduce(0) { $0 + $1.readableBytes })
        for fragment in fragments { fragment.withUnsafeReadableBytes { dataSet.append(contentsOf: $0) } }
        var message = DIMSEMessage(contextID: contextID, command: parsed, dataSet: dataSet)
        message.observer = observer
        return message
    }
}
