import DICOM
import Foundation
import GRDB
import Testing
import Tiering
@testable import PacsServer

@Suite("Ingest: durable, indexed, idempotent, conflicts kept out")
struct IngestTests {
    @Test("an ingested file is stored byte for byte and indexed at every level")
    func storesAndIndexes() throws {
        let store = try Repository.openStore()
        let service = try store.ingestService(codecs: InProcessCodecs())
        let bytes = try Repository.fixture("ct_explicit_le.dcm")
        let outcome = try service.ingest(fileBytes: bytes)
        guard case let .stored(uid) = outcome else { Issue.record("expected stored, got \(outcome)"); return }
        let original = try #require(try store.index.original(sopInstanceUID: uid))
        #expect(try DurableFile.read(store.fast.url(for: original.path)) == bytes)
        #expect(original.sha256 == SHA256.hash(bytes))
        #expect(original.size == bytes.count)
        let studies = try store.index.studies(matching: IndexQuery())
        #expect(studies.count == 1)
        #expect(studies[0].patientName == "Doe^John")
        #expect(studies[0].modalities == ["CT"])
        #expect(studies[0].instanceCount == 1)
    }

    @Test("re-sending the same instance is a duplicate; a different object under its UID is a conflict")
    func duplicatesAndConflicts() throws {
        let store = try Repository.openStore()
        let service = try store.ingestService(codecs: InProcessCodecs())
        let bytes = try Repository.fixture("mr_explicit_le.dcm")
        _ = try service.ingest(fileBytes: bytes)
        #expect(try service.ingest(fileBytes: bytes) == .duplicate(sopInstanceUID: try uid(bytes)))

        var file = try DicomFile.read(bytes)
        file.dataSet.set(.patientName, .PN, "Impostor^Ian")
        let error = #expect(throws: IngestError.self) { try service.ingest(fileBytes: try file.encoded()) }
        #expect(error?.description.contains("conflict") == true)
        let stored = try #require(try store.index.original(sopInstanceUID: try uid(bytes)))
        #expect(try DurableFile.read(store.fast.url(for: stored.path)) == bytes)
        #expect(try store.index.instances(matching: IndexQuery()).count == 1)
    }

    @Test("the index knows where each frame and the header lie, for files and for C-STORE datasets alike")
    func frameLayout() throws {
        let store = try Repository.openStore()
        let service = try store.ingestService(codecs: InProcessCodecs())
        let file = try DicomFile.read(try Repository.fixture("mf_deflated.dcm"))
        // As C-STORE delivers it: the dataset alone, in Explicit VR Little Endian.
        let dataSet = try file.dataSet.encoded(syntax: .explicitVRLittleEndian)
        var answer: Result<IngestOutcome, IngestError>?
        service.ingest(dataSet: dataSet, syntax: .explicitVRLittleEndian) { answer = $0 }
        let uid = try #require(answer).get().sopInstanceUID
        let stored = try #require(try store.index.original(sopInstanceUID: uid))
        let frames = try #require(stored.frames)
        #expect(frames.count == 4)
        let pixels = file.dataSet[.pixelData]!.bytes
        for (index, frame) in frames.enumerated() {
            #expect(try store.read(stored, offset: frame.offset, length: frame.length) == Array(pixels[index * frame.length..<(index + 1) * frame.length]))
        }
        let header = try DicomFile.read(try store.read(stored, offset: 0, length: try #require(stored.headerLength)))
        #expect(header.dataSet[.pixelData] == nil)
        #expect(header.dataSet.string(.sopInstanceUID) == uid)

        let encapsulated = try service.ingest(fileBytes: try Repository.fixture("mf_rle.dcm")).sopInstanceUID
        let rle = try #require(try store.index.original(sopInstanceUID: encapsulated))
        let fragments = try DicomFile.read(try Repository.fixture("mf_rle.dcm")).dataSet[.pixelData]!.fragments!.fragments
        #expect(try rle.frames!.map { try store.read(rle, offset: $0.offset, length: $0.length) } == fragments)
    }

    // What this checks is the setting that makes commits durable; that an acknowledged image survives the process's
    // death is shown by the kill -9 tests (e2e/test_server_crash.py). A power cut is not simulated here.
    @Test("the index opens SQLite with PRAGMA synchronous = FULL, which flushes the WAL at every commit")
    func commitsAreSynchronous() throws {
        let store = try Repository.openStore()
        let index = try #require(store.index as? SQLiteIndex)
        // 2 = FULL: the WAL is flushed at every commit (GRDB's WAL default, NORMAL, flushes only at checkpoints).
        #expect(try index.pool.write { try Int.fetchOne($0, sql: "PRAGMA synchronous") } == 2)
    }

    @Test("a bare dataset is stored as a standard Part 10 file with the same elements")
    func bareDataset() throws {
        let store = try Repository.openStore()
        let bytes = try Repository.fixture("no_preamble_implicit.dcm")
        let outcome = try store.ingestService(codecs: InProcessCodecs()).ingest(fileBytes: bytes)
        let stored = try #require(try store.index.original(sopInstanceUID: outcome.sopInstanceUID))
        let storedBytes = try DurableFile.read(store.fast.url(for: stored.path))
        #expect(Array(storedBytes[128..<132]) == Array("DICM".utf8))
        #expect(try DicomFile.read(storedBytes).dataSet == DicomFile.read(bytes).dataSet)
    }

    @Test("malformed input is refused with the parser's reason and leaves nothing behind")
    func malformed() throws {
        let store = try Repository.openStore()
        let bytes = Array(try Data(contentsOf: Repository.fixtures.appendingPathComponent("malformed/truncated.dcm")))
        let error = #expect(throws: IngestError.self) { try store.ingestService(codecs: InProcessCodecs()).ingest(fileBytes: bytes) }
        #expect(error?.description.contains("byte 1212") == true)
        #expect(try store.index.instances(matching: IndexQuery()).isEmpty)
        #expect(store.fast.storedFiles().isEmpty)
    }

    @Test("queries: wildcards case-insensitively, date ranges, modality, accession, UID lists")
    func queries() throws {
        let store = try Repository.openStore()
        let service = try store.ingestService(codecs: InProcessCodecs())
        for name in ["ct_implicit_le.dcm", "mr_explicit_le.dcm", "cr_explicit_be.dcm", "latin1_name.dcm", "utf8_name.dcm"] {
            _ = try service.ingest(fileBytes: try Repository.fixture(name))
        }
        func studies(_ build: (inout IndexQuery) -> Void) throws -> [String] {
            var query = IndexQuery()
            build(&query)
            return try store.index.studies(matching: query).map(\.patientName).sorted()
        }
        #expect(try studies { $0.patientName = "doe*" } == ["Doe^John"])
        #expect(try studies { $0.patientName = "M?ller*" } == ["Müller^Jürgen"])
        #expect(try studies { $0.patientName = "müller^jürgen" } == ["Müller^Jürgen"])
        #expect(try studies { $0.patientName = "*^Jane" } == ["Smith^Jane", "Smith^Jane"])
        #expect(try studies { $0.modality = "CR" } == ["Smith^Jane"])
        #expect(try studies { $0.studyDate = "20240101-20241231" }.count
                == (try store.index.studies(matching: IndexQuery()).filter { $0.studyDate.hasPrefix("2024") }.count))
        #expect(try studies { $0.studyDate = "-20000101" }.isEmpty)
        let all = try store.index.studies(matching: IndexQuery())
        #expect(try studies { $0.accessionNumber = all[0].accessionNumber } == [all[0].patientName])
        #expect(try studies { $0.studyInstanceUIDs = [all[0].studyInstanceUID, all[1].studyInstanceUID] }.count == 2)
        var paged = IndexQuery()
        paged.limit = 2
        paged.offset = 1
        #expect(try store.index.studies(matching: paged).map(\.studyInstanceUID) == all.dropFirst().prefix(2).map(\.studyInstanceUID))
        var series = IndexQuery()
        series.modality = "MR"
        #expect(try store.index.series(matching: series).allSatisfy { $0.modality == "MR" })
    }

    @Test("an instance acknowledged before its file is renamed into place is read once the rename is done, not refused")
    func readWaitsForTheRename() throws {
        let store = try Repository.openStore()
        let bytes = try Repository.fixture("ct_explicit_le.dcm")
        let file = try DicomFile.read(bytes)
        let attributes = try IndexedAttributes(file.dataSet)
        let path = TierDirectory.placement(study: attributes.studyInstanceUID, instance: attributes.sopInstanceUID,
                                           variant: IngestService.originalVariant)
        // As an ingest leaves it when it answers: staged and flushed by this (live) process, indexed, not yet in place.
        let staged = try store.fast.stage(bytes, as: path, in: try store.staging)
        let record = StoredFile(version: "V1", variant: IngestService.originalVariant, tier: "fast", path: path, size: bytes.count,
                                sha256: SHA256.hash(bytes), transferSyntaxUID: file.transferSyntax.uid)
        _ = try store.index.record(attributes, original: record, receivedAt: 0)
        let original = try #require(try store.index.original(sopInstanceUID: attributes.sopInstanceUID))
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.2) { try? store.fast.publish(staged, durably: false) }
        #expect(try store.read(original) == bytes)
        // A file no live writer is renaming is missing at once.
        try DurableFile.remove(store.fast.url(for: path))
        #expect(throws: StoreError.self) { try store.read(original) }
    }

    @Test("an image whose folder cannot be made is refused before it is acknowledged, and nothing of it is kept")
    func folderFailureIsRefusedBeforeTheAnswer() throws {
        let store = try Repository.openStore()
        let service = try store.ingestService(codecs: InProcessCodecs())
        let file = try DicomFile.read(try Repository.fixture("ct_explicit_le.dcm"))
        let attributes = try IndexedAttributes(file.dataSet)
        let path = TierDirectory.placement(study: attributes.studyInstanceUID, instance: attributes.sopInstanceUID,
                                           variant: IngestService.originalVariant)
        // The study's first-level folder is a file: its study folder cannot be made (as on a disk that refuses it).
        let blocker = store.fast.url(for: String(path.split(separator: "/")[0]))
        try FileManager.default.removeItem(at: blocker)
        #expect(FileManager.default.createFile(atPath: blocker.path, contents: Data()))
        var answer: Result<IngestOutcome, IngestError>?
        service.ingest(dataSet: try file.dataSet.encoded(syntax: .explicitVRLittleEndian), syntax: .explicitVRLittleEndian) { answer = $0 }
        guard case .failure(.storage) = try #require(answer) else { Issue.record("expected a storage failure, got \(String(describing: answer))"); return }
        #expect(try store.index.original(sopInstanceUID: attributes.sopInstanceUID) == nil)
        // No staged file is left behind (only the session's hidden lock).
        #expect(try FileManager.default.contentsOfDirectory(atPath: try store.staging.folder.path).filter { !$0.hasPrefix(".") }.isEmpty)
    }

    private func uid(_ bytes: [UInt8]) throws -> String {
        try DicomFile.read(bytes).dataSet.string(.sopInstanceUID)!
    }
}
