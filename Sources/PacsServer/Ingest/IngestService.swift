import DICOM
import Foundation
import Tiering

/// The one way images enter the store (import, C-STORE, STOW-RS). An instance is acknowledged only after
/// its file is fsynced and its index rows are committed: staged file (fsync) -> index transaction ->
/// rename into place (fsync of the folder). A crash between those steps is finished or rolled back by
/// `IngestRecovery` from the staging folder, so the index never points at nothing and no file is orphaned.
public final class IngestService: Sendable {
    public static let originalVariant = "original"

    private let index: ImageIndex
    private let fast: TierDirectory
    private let staging: StagingSession
    private let locks = StripedLocks()
    private let clock: @Sendable () -> Double
    private let onStored: (@Sendable () -> Void)?
    /// Reads a stored file from whichever tier holds it (a duplicate may arrive after its original moved).
    private let read: @Sendable (StoredFile) throws -> [UInt8]

    public init(index: ImageIndex, fast: TierDirectory, staging: StagingSession, read: @escaping @Sendable (StoredFile) throws -> [UInt8],
                onStored: (@Sendable () -> Void)? = nil, clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.index = index
        self.fast = fast
        self.staging = staging
        self.read = read
        self.onStored = onStored
        self.clock = clock
    }

    /// Ingests the bytes of a file: a Part 10 file is stored exactly as received; a bare dataset, or a
    /// file without preamble, is stored as a standard Part 10 file holding the same elements.
    public func ingest(fileBytes: [UInt8]) throws(IngestError) -> IngestOutcome {
        let file: DicomFile
        do {
            file = try DicomFile.read(fileBytes)
        } catch let error as DICOMError {
            throw .malformed(error)
        } catch {
            throw .malformed(.notDICOM(reason: "\(error)"))
        }
        let isStandardPart10 = fileBytes.count >= 132 && fileBytes[128..<132].elementsEqual("DICM".utf8) && !file.meta.isEmpty
        if isStandardPart10 {
            return try ingest(file, bytes: fileBytes)
        }
        do {
            let normalized = try DicomFile.wrapping(file.dataSet, transferSyntax: file.transferSyntax)
            return try ingest(normalized, bytes: try normalized.encoded())
        } catch let error as DICOMError {
            throw .malformed(error)
        } catch let error as IngestError {
            throw error
        } catch {
            throw .malformed(.notDICOM(reason: "\(error)"))
        }
    }

    /// Ingests a dataset as a DIMSE C-STORE carries it: the bytes in `syntax`, stored unchanged behind a
    /// file meta header of ours. `sopClassUID` is the request's: a dataset of another class is refused.
    public func ingest(dataSet bytes: [UInt8], syntax: TransferSyntax, sopClassUID: String? = nil,
                       sourceAE: String? = nil) throws(IngestError) -> IngestOutcome {
        do {
            let (dataSet, location) = try DataSet.readLocatingPixelData(bytes, syntax: syntax)
            if let sopClassUID, let actual = dataSet.string(.sopClassUID), actual != sopClassUID {
                throw IngestError.classMismatch(requested: sopClassUID, dataSet: actual)
            }
            var file = try DicomFile.wrapping(dataSet, transferSyntax: syntax, sourceAE: sourceAE)
            // Our meta header, then the dataset exactly as received.
            let header = try file.header()
            file.pixelDataLocation = location?.shifted(by: header.count)
            return try ingest(file, bytes: header + bytes)
        } catch let error as IngestError {
            throw error
        } catch let error as DICOMError {
            throw .malformed(error)
        } catch {
            throw .malformed(.notDICOM(reason: "\(error)"))
        }
    }

    private func ingest(_ file: DicomFile, bytes: [UInt8]) throws(IngestError) -> IngestOutcome {
        let attributes: IndexedAttributes
        do {
            attributes = try IndexedAttributes(file.dataSet)
        } catch let error as DICOMError {
            throw .malformed(error)
        } catch {
            throw .malformed(.notDICOM(reason: "\(error)"))
        }
        let uid = attributes.sopInstanceUID
        return try locks.withLock(for: uid) { () throws(IngestError) -> IngestOutcome in
            if let existing = try lookUp(uid) {
                return try compare(file, with: existing, uid: uid)
            }
            let original = StoredFile(version: "V1", variant: Self.originalVariant, tier: fast.name,
                                      path: TierDirectory.placement(uid: uid, variant: Self.originalVariant),
                                      size: bytes.count, sha256: "", transferSyntaxUID: file.transferSyntax.uid)
            let staged: StagedFile
            do {
                staged = try fast.stage(bytes, as: original.path, in: staging)
            } catch let error as StoreError {
                throw .storage(error)
            } catch {
                throw .storage(.io(path: original.path, operation: "stage", errno: 0))
            }
            var recorded = original
            recorded.sha256 = staged.sha256
            (recorded.frames, recorded.headerLength) = FrameLocator.layout(of: file)
            let outcome: RecordOutcome
            do {
                outcome = try index.record(attributes, original: recorded, receivedAt: clock())
            } catch {
                fast.discard(staged)
                throw .index("\(error)")
            }
            if case let .exists(existing) = outcome {
                // Another process stored it between our look-up and our transaction.
                fast.discard(staged)
                return try compare(file, with: existing, uid: uid)
            }
            do {
                try fast.publish(staged)
            } catch let error as StoreError {
                // The index holds the row and the staged file is durable: recovery will finish the rename.
                throw .storage(error)
            } catch {
                throw .storage(.io(path: original.path, operation: "publish", errno: 0))
            }
            onStored?()
            return .stored(sopInstanceUID: uid)
        }
    }

    private func lookUp(_ uid: String) throws(IngestError) -> StoredFile? {
        do {
            return try index.original(sopInstanceUID: uid)
        } catch {
            throw .index("\(error)")
        }
    }

    /// An instance whose SOP Instance UID is already stored is a duplicate when its dataset is the same
    /// element for element (its file meta may differ), otherwise a conflict that is kept out.
    private func compare(_ file: DicomFile, with existing: StoredFile, uid: String) throws(IngestError) -> IngestOutcome {
        do {
            let stored = try DicomFile.read(read(existing))
            guard stored.dataSet == file.dataSet else { throw IngestError.conflict(sopInstanceUID: uid) }
            return .duplicate(sopInstanceUID: uid)
        } catch let error as IngestError {
            throw error
        } catch {
            // The stored copy cannot be read (damaged, or the archive is offline): never replace it.
            throw .conflict(sopInstanceUID: uid)
        }
    }
}

/// Serialises work on the same key (a SOP Instance UID) without one global lock.
final class StripedLocks: Sendable {
    private let stripes: [NSLock] = (0..<64).map { _ in NSLock() }

    func withLock<T>(for key: String, _ body: () throws(IngestError) -> T) throws(IngestError) -> T {
        var hasher = Hasher()
        hasher.combine(key)
        let lock = stripes[Int(UInt(bitPattern: hasher.finalize()) % UInt(stripes.count))]
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }
}
