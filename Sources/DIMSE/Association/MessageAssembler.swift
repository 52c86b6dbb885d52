import DICOM

/// Joins PDV fragments into DIMSE messages: a command (fragments until the last), then, when the command
/// says so, its dataset on the same presentation context.
struct MessageAssembler {
    private var command: [UInt8] = []
    private var pending: (contextID: UInt8, command: DataSet)?
    /// The dataset's fragments so far, joined once when the last arrives (one copy, no regrowing).
    private var fragments: [[UInt8]] = []

    /// Adds one PDV; returns a message when it completes one.
    mutating func add(_ pdv: PDV, accepted: (UInt8) -> Bool) throws -> DIMSEMessage? {
        guard accepted(pdv.contextID) else { throw PDUError.malformed("PDV on presentation context \(pdv.contextID), which was not accepted") }
        if pdv.isCommand {
            guard pending == nil else { throw PDUError.malformed("a command fragment arrived where a dataset was expected") }
            command += pdv.data
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
            pending = (pdv.contextID, parsed)
            return nil
        }
        guard let (contextID, parsed) = pending, contextID == pdv.contextID else {
            throw PDUError.malformed("a dataset fragment arrived without its command")
        }
        fragments.append(pdv.data)
        guard pdv.isLast else { return nil }
        defer {
            fragments = []
            pending = nil
        }
        guard fragments.count > 1 else { return DIMSEMessage(contextID: contextID, command: parsed, dataSet: fragments[0]) }
        var dataSet: [UInt8] = []
        dataSet.reserveCapacity(fragments.reduce(0) { $0 + $1.count })
        for fragment in fragments { dataSet += fragment }
        return DIMSEMessage(contextID: contextID, command: parsed, dataSet: dataSet)
    }
}
