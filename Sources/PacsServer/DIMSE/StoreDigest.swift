import DICOM
import DIMSE
import Synchronization
import Tiering

/// The SHA-256 of the file a C-STORE will be stored as, hashed while the dataset arrives: the file meta header is
/// built from the command (SOP Class and Instance UIDs, the context's transfer syntax, the caller), then each
/// fragment is added on the event loop, so the ingest finds the hash done. The ingest uses it only when the header
/// it builds from the dataset itself is the same (it is, unless the command and the dataset disagree).
final class StoreDigest: DataSetObserver {
    let header: [UInt8]
    private let hasher: Mutex<SHA256?>

    init?(command: DataSet, syntax: TransferSyntax, sourceAE: String) {
        var identity = DataSet()
        guard let sopClass = command.string(.affectedSOPClassUID), let sopInstance = command.string(.affectedSOPInstanceUID) else { return nil }
        identity.set(.sopClassUID, .UI, sopClass)
        identity.set(.sopInstanceUID, .UI, sopInstance)
        guard let header = try? DicomFile.wrapping(identity, transferSyntax: syntax, sourceAE: sourceAE).header() else { return nil }
        self.header = header
        var hasher = SHA256()
        hasher.update(header)
        self.hasher = Mutex(hasher)
    }

    func received(_ fragment: [UInt8]) {
        hasher.withLock { $0?.update(fragment) }
    }

    /// The hash of the header and every fragment received (once).
    func finalize() -> String? {
        hasher.withLock { $0.take() }?.finalize()
    }
}
