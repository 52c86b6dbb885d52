import DICOM
import Foundation
import Tiering

/// The one way images enter the store (import, C-STORE, STOW-RS). An instance is acknowledged only after its
/// file and its index rows are on disk: staged file -> index transaction -> one flush of the file system for
/// both -> rename into place. A crash between those steps is finished or rolled back by `IngestRecovery` from
/// the staging folder, so the index never points at nothing and no file is orphaned.
public final class IngestService: Sendable {
    public static let originalVariant = "original"

    private let index: InstanceIndex
    private let fast: TierDirectory
    private let staging: StagingSession
    private let locks = KeyLocks()
    private let clock: @Sendable () -> Double
    private let onStored: (@Sendable () -> Void)?
    /// Reads a stored file from whichever tier holds it (a duplicate may arrive after its original moved).
    private let read: @Sendable (StoredFile) throws -> [UInt8]
    /// The index's folder when it is on this machine but on another file system than the fast tier (a second flush then).
    private let separateIndexFolder: URL?
    /// Compares a re-sent instance with the stored one (decoding pixels: codec work on received data).
    private let codecs: CodecRunner
    /// Where an object that conflicts with a stored instance is kept.
    private let conflicts: ConflictHold

    public init(index: InstanceIndex, fast: TierDirectory, staging: StagingSession, read: @escaping @Sendable (StoredFile) throws -> [UInt8],
                codecs: CodecRunner, conflicts: ConflictHold,
                onStored: (@Sendable () -> Void)? = nil, clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }) {
        self.index = index
        self.fast = fast
        self.staging = staging
        self.read = read
        self.codecs = codecs
        self.conflicts = conflicts
        separateIndexFolder = index.folder.flatMap { DurableFile.sameFileSystem(fast.root, $0) ? nil : $0 }
        self.onStored = onStored
        self.clock = clock
    }

    /// Ingests the bytes of a file: a Part 10 file is stored exactly as received; a bare dataset, or a
    /// file without preamble, is stored as a standard Part 10 file holding the same elements.
    public func ingest(fileBytes: [UInt8]) throws(IngestError) -> IngestOutcome {
        try ingest(prepare(fileBytes: fileBytes))
    }

    /// Received bytes read and checked, ready to store: what a caller may look at first (STOW-RS checks the
    /// study it was posted to) without parsing them twice.
    public struct Prepared: Sendable {
        /// The file's meta and attributes; its pixel data is located (frame offsets), not held.
        let file: DicomFile
        /// A file meta header of ours to write before `bytes` (a C-STORE's dataset), or nothing.
        var header: [UInt8] = []
        let bytes: [UInt8]
        /// The SHA-256 of header and bytes when someone else takes it (a C-STORE's receiver): asked after staging.
        var sha256: (@Sendable () -> String)?
        public let attributes: IndexedAttributes
        /// Identifiers the sender left out that were supplied (see `IdentifierCoercion`).
        var supplied: [Tag] = []
        /// Who sent it, for the record of a conflict: "import", "STOW-RS", "C-STORE from AE".
        var source = "import"
    }

    /// The file to store for some received bytes: as received when they are a standard Part 10 file, else
    /// normalized to one; and the attributes the index records.
    public func prepare(fileBytes: [UInt8], source: String = "import") throws(IngestError) -> Prepared {
        let (file, bytes) = try normalize(fileBytes)
        guard IdentifierCoercion.coerced(file.dataSet) == nil else {
            return try coerced(try whole(bytes).dataSet, syntax: file.transferSyntax, sourceAE: file.meta.string(.sourceApplicationEntityTitle),
                               source: source)
        }
        var prepared = Prepared(file: file, bytes: bytes, attributes: try Self.attributes(of: file))
        prepared.source = source
        return prepared
    }

    /// A dataset without its Study or Series Instance UID, stored as a file with them supplied (and recorded).
    private func coerced(_ dataSet: DataSet, syntax: TransferSyntax, sourceAE: String?, source: String) throws(IngestError) -> Prepared {
        guard let (dataSet, supplied) = IdentifierCoercion.coerced(dataSet) else { throw .malformed(.notDICOM(reason: "nothing to supply")) }
        do {
            // Datasets are written little endian: a big-endian one is stored in Explicit VR Little Endian.
            let file = try DicomFile.wrapping(dataSet, transferSyntax: syntax.littleEndian ? syntax : .explicitVRLittleEndian, sourceAE: sourceAE)
            var prepared = try prepare(fileBytes: try file.encoded(), source: source)
            prepared.supplied = supplied
            return prepared
        } catch let error as IngestError {
            throw error
        } catch let error as DICOMError {
            throw .malformed(error)
        } catch {
            throw .malformed(.notDICOM(reason: "\(error)"))
        }
    }

    private func whole(_ bytes: [UInt8]) throws(IngestError) -> DicomFile {
        do {
            return try DicomFile.read(bytes)
        } catch let error as DICOMError {
            throw .malformed(error)
        } catch {
            throw .malformed(.notDICOM(reason: "\(error)"))
        }
    }

    /// The file as read for storing: its pixels located, not copied (see `compare` for where they are needed).
    private func normalize(_ fileBytes: [UInt8]) throws(IngestError) -> (DicomFile, [UInt8]) {
        let file: DicomFile
        do {
            file = try DicomFile.read(fileBytes, skippingPixelData: true)
        } catch let error as DICOMError {
            throw .malformed(error)
        } catch {
            throw .malformed(.notDICOM(reason: "\(error)"))
        }
        let isStandardPart10 = fileBytes.count >= 132 && fileBytes[128..<132].elementsEqual("DICM".utf8) && !file.meta.isEmpty
        if isStandardPart10 { return (file, fileBytes) }
        do {
            let whole = try DicomFile.read(fileBytes)
            let normalized = try DicomFile.wrapping(whole.dataSet, transferSyntax: whole.transferSyntax)
            return (normalized, try normalized.encoded())
        } catch let error as DICOMError {
            throw .malformed(error)
        } catch {
            throw .malformed(.notDICOM(reason: "\(error)"))
        }
    }

    /// Ingests prepared files as one group commit (a STOW-RS body, or a single instance): each is staged, one
    /// index transaction records them, one flush makes the files and the index rows durable, and they are renamed
    /// into place. Each answer is what `ingest(fileBytes:)` would give for its file.
    ///
    /// `acknowledge`, when given, hears the answers once every file is durable and indexed, before the renames
    /// (a C-STORE's response leaves while they run): a reader of a file being renamed waits for it
    /// (`DataStore.read`), and a rename lost in a crash is redone by recovery. It is called exactly once.
    public func ingest(prepared files: [Prepared],
                       acknowledge: (([Result<IngestOutcome, IngestError>]) -> Void)? = nil) -> [Result<IngestOutcome, IngestError>] {
        var results = [Result<IngestOutcome, IngestError>?](repeating: nil, count: files.count)
        typealias Item = (position: Int, prepared: Prepared)
        var items: [Item] = []
        var repeated: [Int] = []
        var seen = Set<String>()
        for (position, prepared) in files.enumerated() {
            // The same instance twice in one body: the second is answered after the first is stored.
            if seen.insert(prepared.attributes.sopInstanceUID).inserted {
                items.append((position, prepared))
            } else {
                repeated.append(position)
            }
        }
        var stored = 0
        var acknowledged = false
        locks.withLocks(for: items.map(\.prepared.attributes.sopInstanceUID)) {
            var staged: [(item: Item, recorded: StoredFile, file: StagedFile)] = []
            for item in items {
                // No look-up first: the index transaction finds an instance already stored, and a duplicate's
                // staged copy is then discarded (rare, and cheaper than a look-up for every new instance).
                do throws(IngestError) {
                    let prepared = item.prepared
                    var recorded = originalFile(prepared.attributes, prepared.file, size: prepared.header.count + prepared.bytes.count)
                    let file = try stage(prepared, as: recorded.path)
                    recorded.sha256 = file.sha256
                    staged.append((item, recorded, file))
                } catch {
                    results[item.position] = .failure(error)
                }
            }
            let outcomes: [RecordOutcome]
            do {
                outcomes = try index.record(staged.map { ($0.item.prepared.attributes, $0.recorded) }, receivedAt: clock())
            } catch {
                staged.forEach { fast.discard($0.file) }
                staged.forEach { results[$0.item.position] = .failure(.index("\(error)")) }
                return
            }
            var placed: [(item: Item, file: StagedFile)] = []
            for (entry, outcome) in zip(staged, outcomes) {
                if case let .exists(existing) = outcome {
                    // Stored before (or by another process meanwhile): compared with what is stored.
                    fast.discard(entry.file)
                    let uid = entry.item.prepared.attributes.sopInstanceUID
                    results[entry.item.position] = Result { () throws(IngestError) in try compare(entry.item.prepared, with: existing, uid: uid) }
                } else {
                    placed.append((entry.item, entry.file))
                }
            }
            do {
                try flush(placed.map(\.file))
            } catch {
                // Not durable, so never acknowledged: the rows go, then the files (if the rows cannot go, the staged
                // files stay for recovery to finish or roll back).
                if (try? index.forget(sopInstanceUIDs: placed.map(\.item.prepared.attributes.sopInstanceUID))) != nil {
                    placed.forEach { fast.discard($0.file) }
                }
                let failure = IngestError.storage(error as? StoreError ?? .io(path: fast.root.path, operation: "flush", errno: 0))
                placed.forEach { results[$0.item.position] = .failure(failure) }
                return
            }
            for entry in placed {
                let prepared = entry.item.prepared
                results[entry.item.position] = .success(prepared.supplied.isEmpty ? .stored(sopInstanceUID: prepared.attributes.sopInstanceUID)
                    : .coerced(sopInstanceUID: prepared.attributes.sopInstanceUID, supplied: prepared.supplied.compactMap(\.keyword)))
            }
            if let acknowledge, repeated.isEmpty {
                acknowledge(results.map { $0 ?? .failure(.index("not ingested")) })
                acknowledged = true
            }
            for entry in placed {
                do {
                    // The new name needs no flush: a lost rename of a durable file is redone by recovery.
                    try fast.publish(entry.file, durably: false)
                    stored += 1
                } catch {
                    // The row and the staged file are durable: recovery will finish the rename. A sender not yet
                    // answered hears of it.
                    results[entry.item.position] = .failure(.storage(error as? StoreError ?? .io(path: entry.file.relativePath, operation: "publish", errno: 0)))
                }
            }
        }
        for _ in 0..<stored { onStored?() }
        for position in repeated {
            results[position] = Result { () throws(IngestError) in try ingest(files[position]) }
        }
        let answers = results.map { $0 ?? .failure(.index("not ingested")) }
        if !acknowledged { acknowledge?(answers) }
        return answers
    }

    /// Ingests a dataset as a DIMSE C-STORE carries it: the bytes in `syntax`, stored unchanged behind a
    /// file meta header of ours. `sopClassUID` and `sopInstanceUID` are the request's: a dataset that names
    /// others is refused. `digest` is the file's hash taken while the dataset arrived, used when its header is
    /// the one built here. `acknowledge` hears the answer as soon as it is known (see `ingest(prepared:acknowledge:)`).
    func ingest(dataSet bytes: [UInt8], syntax: TransferSyntax, sopClassUID: String? = nil, sopInstanceUID: String? = nil,
                sourceAE: String? = nil, digest: StoreDigest? = nil, acknowledge: (Result<IngestOutcome, IngestError>) -> Void) {
        let prepared: Prepared
        do {
            prepared = try prepare(dataSet: bytes, syntax: syntax, sopClassUID: sopClassUID, sopInstanceUID: sopInstanceUID,
                                   sourceAE: sourceAE, digest: digest)
        } catch {
            return acknowledge(.failure(error))
        }
        withoutActuallyEscaping(acknowledge) { acknowledge in
            _ = ingest(prepared: [prepared]) { acknowledge($0[0]) }
        }
    }

    private func prepare(dataSet bytes: [UInt8], syntax: TransferSyntax, sopClassUID: String?, sopInstanceUID: String?,
                         sourceAE: String?, digest: StoreDigest?) throws(IngestError) -> Prepared {
        do {
            let (dataSet, location) = try DataSet.readLocatingPixelData(bytes, syntax: syntax, skippingPixelData: true)
            if let sopClassUID, let actual = dataSet.string(.sopClassUID), actual != sopClassUID {
                throw IngestError.classMismatch(requested: sopClassUID, dataSet: actual)
            }
            if let sopInstanceUID, let actual = dataSet.string(.sopInstanceUID), actual != sopInstanceUID {
                throw IngestError.instanceMismatch(requested: sopInstanceUID, dataSet: actual)
            }
            if IdentifierCoercion.coerced(dataSet) != nil {
                return try coerced(try DataSet.read(bytes, syntax: syntax), syntax: syntax, sourceAE: sourceAE, source: "C-STORE from \(sourceAE ?? "?")")
            }
            var file = try DicomFile.wrapping(dataSet, transferSyntax: syntax, sourceAE: sourceAE)
            // Our meta header, then the dataset exactly as received.
            let header = try file.header()
            file.pixelDataLocation = location?.shifted(by: header.count)
            var sha256: (@Sendable () -> String)?
            if let digest, digest.header == header { sha256 = { digest.finalize() } }
            var prepared = Prepared(file: file, header: header, bytes: bytes, sha256: sha256, attributes: try Self.attributes(of: file))
            prepared.source = "C-STORE from \(sourceAE ?? "?")"
            return prepared
        } catch let error as IngestError {
            throw error
        } catch let error as DICOMError {
            throw .malformed(error)
        } catch {
            throw .malformed(.notDICOM(reason: "\(error)"))
        }
    }

    private static func attributes(of file: DicomFile) throws(IngestError) -> IndexedAttributes {
        do {
            return try IndexedAttributes(file.dataSet)
        } catch let error as DICOMError {
            throw .malformed(error)
        } catch {
            throw .malformed(.notDICOM(reason: "\(error)"))
        }
    }

    /// The index row of an original about to be stored (its SHA-256 comes with staging).
    private func originalFile(_ attributes: IndexedAttributes, _ file: DicomFile, size: Int) -> StoredFile {
        var original = StoredFile(version: "V1", variant: Self.originalVariant, tier: fast.name,
                                  path: TierDirectory.placement(study: attributes.studyInstanceUID, instance: attributes.sopInstanceUID,
                                                                variant: Self.originalVariant),
                                  size: size, sha256: "", transferSyntaxUID: file.transferSyntax.uid)
        (original.frames, original.headerLength) = FrameLocator.layout(of: file)
        return original
    }

    private func stage(_ prepared: Prepared, as path: String) throws(IngestError) -> StagedFile {
        do {
            // Its folder first, flushed with it: the rename after the acknowledgement then needs no new folder, which
            // a full disk could refuse when the sender has been told the image is stored.
            try fast.makeFolder(for: path)
            return try fast.stageUnsynced(prepared.bytes, after: prepared.header, sha256: prepared.sha256, as: path, in: staging)
        } catch let error as StoreError {
            throw .storage(error)
        } catch {
            throw .storage(.io(path: path, operation: "stage", errno: 0))
        }
    }

    private func ingest(_ prepared: Prepared) throws(IngestError) -> IngestOutcome {
        try ingest(prepared: [prepared])[0].get()
    }

    /// One flush for the staged files and the index rows recorded for them.
    private func flush(_ staged: [StagedFile]) throws {
        try fast.flush(staged)
        if let separateIndexFolder, !staged.isEmpty { try DurableFile.syncFileSystem(separateIndexFolder) }
    }

    /// An instance whose SOP Instance UID is already stored is a duplicate when it is the same instance (see
    /// `InstanceComparison`: any transfer syntax), otherwise a conflict, held aside for an admin.
    private func compare(_ received: Prepared, with existing: StoredFile, uid: String) throws(IngestError) -> IngestOutcome {
        let bytes = received.header + received.bytes
        let difference: String
        do {
            guard let found = try codecs.difference(stored: try read(existing), received: bytes) else { return .duplicate(sopInstanceUID: uid) }
            difference = found
        } catch {
            // The stored copy cannot be read (damaged, or the archive is offline), or the two cannot be compared:
            // the stored one is never replaced.
            difference = "it cannot be compared with the stored instance: \(error)"
        }
        let held: HeldConflict
        do {
            held = try conflicts.hold(bytes, sopInstanceUID: uid, difference: difference, source: received.source, now: clock())
        } catch {
            throw .storage(error as? StoreError ?? .io(path: conflicts.folder.path, operation: "hold conflict", errno: 0))
        }
        throw .conflict(sopInstanceUID: uid, difference: difference, held: held.id)
    }
}
