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
        let prepared = try prepare(fileBytes: fileBytes)
        return try ingest(prepared.file, bytes: prepared.bytes)
    }

    /// Received bytes read and checked, ready to store: what a caller may look at first (STOW-RS checks the
    /// study it was posted to) without parsing them twice.
    public struct Prepared: Sendable {
        let file: DicomFile
        let bytes: [UInt8]
        public let attributes: IndexedAttributes
    }

    /// The file to store for some received bytes: as received when they are a standard Part 10 file, else
    /// normalized to one; and the attributes the index records.
    public func prepare(fileBytes: [UInt8]) throws(IngestError) -> Prepared {
        let (file, bytes) = try normalize(fileBytes)
        return Prepared(file: file, bytes: bytes, attributes: try Self.attributes(of: file))
    }

    private func normalize(_ fileBytes: [UInt8]) throws(IngestError) -> (DicomFile, [UInt8]) {
        let file: DicomFile
        do {
            file = try DicomFile.read(fileBytes)
        } catch let error as DICOMError {
            throw .malformed(error)
        } catch {
            throw .malformed(.notDICOM(reason: "\(error)"))
        }
        let isStandardPart10 = fileBytes.count >= 132 && fileBytes[128..<132].elementsEqual("DICM".utf8) && !file.meta.isEmpty
        if isStandardPart10 { return (file, fileBytes) }
        do {
            let normalized = try DicomFile.wrapping(file.dataSet, transferSyntax: file.transferSyntax)
            return (normalized, try normalized.encoded())
        } catch let error as DICOMError {
            throw .malformed(error)
        } catch {
            throw .malformed(.notDICOM(reason: "\(error)"))
        }
    }

    /// Ingests several prepared files as one group commit (a STOW-RS body): each is staged, one flush makes them
    /// all durable, one index transaction records them, they are renamed into place and one flush makes the names
    /// durable; only then is any acknowledged. Each answer is what `ingest(fileBytes:)` would give for its file.
    public func ingest(prepared files: [Prepared]) -> [Result<IngestOutcome, IngestError>] {
        var results = [Result<IngestOutcome, IngestError>?](repeating: nil, count: files.count)
        struct Item {
            var position: Int
            var file: DicomFile
            var bytes: [UInt8]
            var attributes: IndexedAttributes
        }
        var items: [Item] = []
        var repeated: [Int] = []
        var seen = Set<String>()
        for (position, prepared) in files.enumerated() {
            // The same instance twice in one body: the second is answered after the first is stored.
            if seen.insert(prepared.attributes.sopInstanceUID).inserted {
                items.append(Item(position: position, file: prepared.file, bytes: prepared.bytes, attributes: prepared.attributes))
            } else {
                repeated.append(position)
            }
        }
        var stored = 0
        locks.withLocks(for: items.map(\.attributes.sopInstanceUID)) {
            var staged: [(item: Item, recorded: StoredFile, file: StagedFile)] = []
            for item in items {
                do throws(IngestError) {
                    if let existing = try lookUp(item.attributes.sopInstanceUID) {
                        results[item.position] = Result { () throws(IngestError) in try compare(item.file, with: existing, uid: item.attributes.sopInstanceUID) }
                        continue
                    }
                    var recorded = originalFile(item.attributes.sopInstanceUID, item.file, size: item.bytes.count)
                    let file = try stage(item.bytes, as: recorded.path, synced: false)
                    recorded.sha256 = file.sha256
                    staged.append((item, recorded, file))
                } catch {
                    results[item.position] = .failure(error)
                }
            }
            do {
                try fast.flush(staged.map(\.file))
            } catch {
                staged.forEach { fast.discard($0.file) }
                staged.forEach { results[$0.item.position] = .failure(.storage(error as? StoreError ?? .io(path: $0.file.relativePath, operation: "flush", errno: 0))) }
                return
            }
            let outcomes: [RecordOutcome]
            do {
                outcomes = try index.record(staged.map { ($0.item.attributes, $0.recorded) }, receivedAt: clock())
            } catch {
                staged.forEach { fast.discard($0.file) }
                staged.forEach { results[$0.item.position] = .failure(.index("\(error)")) }
                return
            }
            var placed: [StagedFile] = []
            for (entry, outcome) in zip(staged, outcomes) {
                let uid = entry.item.attributes.sopInstanceUID
                if case let .exists(existing) = outcome {
                    fast.discard(entry.file)
                    results[entry.item.position] = Result { () throws(IngestError) in try compare(entry.item.file, with: existing, uid: uid) }
                } else {
                    placed.append(entry.file)
                    results[entry.item.position] = .success(.stored(sopInstanceUID: uid))
                }
            }
            do {
                try fast.place(placed)
                stored = placed.count
            } catch {
                // The index holds the rows and the staged files are durable: recovery will finish the renames.
                for entry in staged where placed.contains(where: { $0.stagingURL == entry.file.stagingURL }) {
                    results[entry.item.position] = .failure(.storage(error as? StoreError ?? .io(path: entry.file.relativePath, operation: "publish", errno: 0)))
                }
            }
        }
        for _ in 0..<stored { onStored?() }
        for position in repeated {
            results[position] = Result { () throws(IngestError) in try ingest(files[position].file, bytes: files[position].bytes) }
        }
        return results.map { $0 ?? .failure(.index("not ingested")) }
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
    private func originalFile(_ uid: String, _ file: DicomFile, size: Int) -> StoredFile {
        var original = StoredFile(version: "V1", variant: Self.originalVariant, tier: fast.name,
                                  path: TierDirectory.placement(uid: uid, variant: Self.originalVariant),
                                  size: size, sha256: "", transferSyntaxUID: file.transferSyntax.uid)
        (original.frames, original.headerLength) = FrameLocator.layout(of: file)
        return original
    }

    private func stage(_ bytes: [UInt8], as path: String, synced: Bool) throws(IngestError) -> StagedFile {
        do {
            return synced ? try fast.stage(bytes, as: path, in: staging) : try fast.stageUnsynced(bytes, as: path, in: staging)
        } catch let error as StoreError {
            throw .storage(error)
        } catch {
            throw .storage(.io(path: path, operation: "stage", errno: 0))
        }
    }

    private func ingest(_ file: DicomFile, bytes: [UInt8]) throws(IngestError) -> IngestOutcome {
        let attributes = try Self.attributes(of: file)
        let uid = attributes.sopInstanceUID
        return try locks.withLock(for: uid) { () throws(IngestError) -> IngestOutcome in
            if let existing = try lookUp(uid) {
                return try compare(file, with: existing, uid: uid)
            }
            var recorded = originalFile(uid, file, size: bytes.count)
            let staged = try stage(bytes, as: recorded.path, synced: true)
            recorded.sha256 = staged.sha256
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
                // Durable already: the staged file and the index row are; a lost rename is redone by recovery.
                try fast.publish(staged, durably: false)
            } catch let error as StoreError {
                // The index holds the row and the staged file is durable: recovery will finish the rename.
                throw .storage(error)
            } catch {
                throw .storage(.io(path: recorded.path, operation: "publish", errno: 0))
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
        let lock = stripes[stripe(key)]
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// Holds the locks of several keys at once, taken in one order so two callers cannot deadlock.
    func withLocks(for keys: [String], _ body: () -> Void) {
        let held = Set(keys.map(stripe)).sorted().map { stripes[$0] }
        held.forEach { $0.lock() }
        defer { held.reversed().forEach { $0.unlock() } }
        body()
    }

    private func stripe(_ key: String) -> Int {
        var hasher = Hasher()
        hasher.combine(key)
        return Int(UInt(bitPattern: hasher.finalize()) % UInt(stripes.count))
    }
}
