import DICOM
import DIMSE
import Foundation
import NIOCore
import Tiering

/// The SHA-256 of the file a C-STORE will be stored as. The file meta header is built from the command (SOP Class
/// and Instance UIDs, the context's transfer syntax, the caller). The dataset's last megabyte is only kept while it
/// arrives, when the event loop is busy receiving; it is hashed on the event loop once the message has gone to the
/// ingest, while the ingest reads and stages the dataset on the other core (what comes before it is hashed as it
/// arrives, so the event loop never has much left at the end). The ingest uses the hash only when the header it
/// builds from the dataset itself is the same (it is, unless the command and the dataset disagree).
final class StoreDigest: DataSetObserver, @unchecked Sendable {
    let header: [UInt8]
    /// Bytes left to hash once the message is whole, at most.
    static let unhashedLimit = 1 << 20
    /// Guards everything below.
    private let condition = NSCondition()
    private var hasher: SHA256?
    private var unhashed: [ByteBuffer] = []
    private var unhashedBytes = 0
    private var hashing = false
    private var digest: String?

    init?(command: DataSet, syntax: TransferSyntax, sourceAE: String) {
        var identity = DataSet()
        guard let sopClass = command.string(.affectedSOPClassUID), let sopInstance = command.string(.affectedSOPInstanceUID) else { return nil }
        identity.set(.sopClassUID, .UI, sopClass)
        identity.set(.sopInstanceUID, .UI, sopInstance)
        guard let header = try? DicomFile.wrapping(identity, transferSyntax: syntax, sourceAE: sourceAE).header() else { return nil }
        self.header = header
        hasher = SHA256()
        hasher?.update(header)
    }

    func received(_ fragment: ByteBuffer) {
        condition.withLock {
            unhashed.append(fragment)
            unhashedBytes += fragment.readableBytes
            while unhashedBytes > Self.unhashedLimit, !unhashed.isEmpty {
                let first = unhashed.removeFirst()
                unhashedBytes -= first.readableBytes
                first.withUnsafeReadableBytes { hasher?.update($0) }
            }
        }
    }

    func completed() {
        _ = finalize()
    }

    /// The hash of the header and every fragment received: finished by the first caller (the event loop, normally),
    /// waited for by the second.
    func finalize() -> String {
        condition.lock()
        if hashing {
            while digest == nil { condition.wait() }
            defer { condition.unlock() }
            return digest!
        }
        hashing = true
        var hasher = self.hasher.take()!
        let parts = unhashed
        unhashed = []
        condition.unlock()
        for part in parts { part.withUnsafeReadableBytes { hasher.update($0) } }
        let value = hasher.finalize()
        condition.withLock {
            digest = value
            condition.broadcast()
        }
        return value
    }
}
