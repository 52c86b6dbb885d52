import DICOM
import Foundation
import Testing
import Tiering
@testable import PacsServer

@Suite("Crash recovery and verification")
struct RecoveryAndVerifyTests {
    /// Reproduces a writer killed between steps: staged (and maybe indexed) but never renamed into place. With
    /// `dataLost`, a power cut took the file's data before the ingest's flush: only its first half is on disk.
    private func stageLikeACrashedWriter(_ store: DataStore, fixture: String, indexed: Bool, dataLost: Bool = false) throws -> String {
        let bytes = try Repository.fixture(fixture)
        let file = try DicomFile.read(bytes)
        let attributes = try IndexedAttributes(file.dataSet)
        let path = TierDirectory.placement(study: attributes.studyInstanceUID, instance: attributes.sopInstanceUID, variant: "original")
        var session: StagingSession? = try StagingSession(tier: store.fast)
        _ = try store.fast.stage(dataLost ? Array(bytes.prefix(bytes.count / 2)) : bytes, as: path, in: session!)
        if indexed {
            let record = StoredFile(version: "V1", variant: "original", tier: "fast", path: path, size: bytes.count,
                                    sha256: SHA256.hash(bytes), transferSyntaxUID: file.transferSyntax.uid)
            _ = try store.index.record(attributes, original: record, receivedAt: 0)
        }
        session = nil  // the process dies here
        return attributes.sopInstanceUID
    }

    @Test("an ingest that was committed but not renamed is finished by recovery")
    func finishesCommittedIngest() throws {
        let store = try Repository.openStore()
        let uid = try stageLikeACrashedWriter(store, fixture: "ct_explicit_le.dcm", indexed: true)
        let actions = try store.recover()
        #expect(actions.count == 1)
        if case .finished = actions.first {} else { Issue.record("expected finished, got \(actions)") }
        let original = try #require(try store.index.original(sopInstanceUID: uid))
        #expect(try DurableFile.read(store.fast.url(for: original.path)) == Repository.fixture("ct_explicit_le.dcm"))
        #expect(try Verifier(index: store.index, tiers: store.tiers).run(repair: false).isClean)
    }

    @Test("verify itself finishes what a dead writer left, reports it as recovered, and is then clean")
    func verifyRecovers() throws {
        let store = try Repository.openStore()
        _ = try stageLikeACrashedWriter(store, fixture: "ct_explicit_le.dcm", indexed: true)
        _ = try stageLikeACrashedWriter(store, fixture: "mr_explicit_le.dcm", indexed: false)
        let report = try Verifier(index: store.index, tiers: store.tiers).run(repair: false)
        #expect(report.isClean)
        #expect(report.recovered.count == 2)
        #expect(report.recovered.contains { $0.contains("finished the interrupted store") })
        #expect(report.recovered.contains { $0.contains("rolled back the unacknowledged store") })
    }

    @Test("an ingest that never reached the index is rolled back")
    func rollsBackUncommittedIngest() throws {
        let store = try Repository.openStore()
        let uid = try stageLikeACrashedWriter(store, fixture: "mr_explicit_le.dcm", indexed: false)
        let actions = try store.recover()
        if case .rolledBack = actions.first {} else { Issue.record("expected rolledBack, got \(actions)") }
        #expect(try store.index.original(sopInstanceUID: uid) == nil)
        #expect(store.fast.storedFiles().isEmpty)
        #expect(try Verifier(index: store.index, tiers: store.tiers).run(repair: false).isClean)
    }

    @Test("an ingest indexed but cut off by a power cut before its flush is rolled back, index entry included")
    func forgetsIngestWhoseDataNeverReachedTheDisk() throws {
        let store = try Repository.openStore()
        let kept = try store.ingestService(codecs: InProcessCodecs()).ingest(fileBytes: try Repository.fixture("ct_explicit_le.dcm")).sopInstanceUID
        let uid = try stageLikeACrashedWriter(store, fixture: "mr_explicit_le.dcm", indexed: true, dataLost: true)
        #expect(try store.index.original(sopInstanceUID: uid) != nil)

        let actions = try store.recover()
        #expect(actions.count == 1)
        guard case let .forgotten(_, forgotten) = actions.first else { Issue.record("expected forgotten, got \(actions)"); return }
        #expect(forgotten == uid)
        #expect(actions.first?.description.contains("never reached the disk") == true)
        #expect(try store.index.original(sopInstanceUID: uid) == nil)
        // Its study (which it alone held) is gone from queries; the other instance is untouched.
        #expect(try store.index.studies(matching: IndexQuery()).count == 1)
        #expect(try store.index.original(sopInstanceUID: kept) != nil)
        #expect(store.fast.storedFiles().count == 1)
        #expect(try Verifier(index: store.index, tiers: store.tiers).run(repair: false).isClean)
    }

    @Test("verify finds corrupt and orphan files; repair quarantines orphans and never deletes images")
    func verifyFindings() throws {
        let store = try Repository.openStore()
        let outcome = try store.ingestService(codecs: InProcessCodecs()).ingest(fileBytes: try Repository.fixture("ct_explicit_le.dcm"))
        let original = try #require(try store.index.original(sopInstanceUID: outcome.sopInstanceUID))
        var bytes = try DurableFile.read(store.fast.url(for: original.path))
        bytes[bytes.count / 2] ^= 0xFF
        try Data(bytes).write(to: store.fast.url(for: original.path))
        try DurableFile.makeDirectory(store.fast.url(for: "zz/yy"))
        try Data([1, 2, 3]).write(to: store.fast.url(for: "zz/yy/stray.dcm"))

        let report = try Verifier(index: store.index, tiers: store.tiers).run(repair: false)
        #expect(report.findings.map(\.kind).sorted { $0.rawValue < $1.rawValue } == [.corrupt, .orphan])
        #expect(report.findings.contains { $0.kind == .corrupt && $0.path == original.path && $0.detail.contains(outcome.sopInstanceUID) })

        let repaired = try Verifier(index: store.index, tiers: store.tiers).run(repair: true)
        #expect(repaired.repaired.contains { $0.contains("zz/yy/stray.dcm") })
        #expect(FileManager.default.fileExists(atPath: store.fast.quarantineRoot.appendingPathComponent("zz/yy/stray.dcm").path))
        #expect(FileManager.default.fileExists(atPath: store.fast.url(for: original.path).path), "a corrupt image is never deleted")
        #expect(repaired.findings.map(\.kind) == [.corrupt])
    }
}
