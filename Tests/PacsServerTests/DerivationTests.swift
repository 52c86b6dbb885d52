import Codecs
import DICOM
import Testing
@testable import PacsServer

@Suite("Derivation: versions made from a persisted queue")
struct DerivationTests {
    private func ingest(_ names: [String]) throws -> (DataStore, DerivationService, [String]) {
        let store = try Repository.openStore()
        let policies = try Policies.load(from: Repository.policies).get()
        let service = try store.ingestService(codecs: InProcessCodecs())
        let uids = try names.map { try service.ingest(fileBytes: try Repository.fixture($0)).sopInstanceUID }
        return (store, DerivationService(store: store, policy: { policies.compression }, codecs: InProcessCodecs()), uids)
    }

    @Test("a CT gets a bit-exact JPEG-LS V1 copy and V2/V3 at the policy's ratios, with their levels indexed")
    func versionsOfACT() throws {
        let (store, derivation, uids) = try ingest(["ct_explicit_le.dcm"])
        try derivation.drain(workers: 1)
        let files = try store.index.files(sopInstanceUID: uids[0])
        #expect(files.map { "\($0.version)/\($0.variant)" }.sorted() == ["V1/jpegls", "V1/original", "V2/j2k", "V3/j2k"])

        let original = try DicomFile.read(try store.read(files.first { $0.variant == "original" }!))
        let pixels = try PixelFrames(original.dataSet, syntax: original.transferSyntax)
        let copyFile = files.first { $0.variant == "jpegls" }!
        let copy = try DicomFile.read(try store.read(copyFile))
        #expect(copy.transferSyntax == .jpegLSLossless)
        #expect(copy.dataSet.string(.sopInstanceUID) == uids[0])
        #expect(try PixelFrames(copy.dataSet, syntax: copy.transferSyntax).frames == pixels.frames)

        for (name, target) in [("V2", 10.0), ("V3", 20.0)] {
            let version = try #require(files.first { $0.version == name })
            #expect(version.targetRatio == target)
            #expect(abs(version.achievedRatio! - target) / target < 0.15)
            #expect(version.psnr! >= 34)
            let bytes = try store.read(version)
            let object = try DicomFile.read(bytes)
            #expect(object.dataSet.string(.sopInstanceUID) == version.sopInstanceUID)
            #expect(object.dataSet.string(.sopInstanceUID) != uids[0])
            #expect(object.dataSet.string(.lossyImageCompression) == "01")
            #expect(object.dataSet.strings(.lossyImageCompressionMethod).last == "ISO_15444_1")
            #expect(object.dataSet[.sourceImageSequence]?.items.first?.dataSet.string(.referencedSOPInstanceUID) == uids[0])
            #expect(object.dataSet.string(Tag(0x0073, 0x0010)) == "STRATA VERSIONS")
            #expect(object.dataSet.string(Tag(0x0073, 0x1001)) == name)
            // The index's offsets find the codestream in the file, and its level ends cut it by level.
            let layout = try #require(version.frames?.first)
            let codestream = Array(bytes[layout.offset..<layout.offset + layout.length])
            #expect(codestream.prefix(2) == [0xFF, 0x4F])
            #expect(try LevelIndex(codestream: codestream).ends == layout.levelEnds)
            #expect(layout.levelSizes?.last == [128, 128])
        }
    }

    @Test("jobs of a process that died go back to the queue and complete after a restart")
    func resumesAfterCrash() throws {
        let (store, derivation, uids) = try ingest(["ct_explicit_le.dcm", "mr_explicit_le.dcm"])
        // A worker of a process that no longer exists claimed the first job and died.
        let claimed = try #require(try store.index.claimDerivation(owner: "4242-deadbeef", now: 0))
        #expect(claimed.sopInstanceUID == uids[0])
        #expect(try store.index.derivationCounts() == DerivationCounts(pending: 1, running: 1, done: 0))
        #expect(try derivation.releaseAbandoned() == 1)
        try derivation.drain(workers: 2)
        #expect(try store.index.derivationCounts() == DerivationCounts(pending: 0, running: 0, done: 2))
        for uid in uids { #expect(try store.index.files(sopInstanceUID: uid).count == 4) }
        #expect(try Verifier(index: store.index, tiers: store.tiers).run(repair: false).isClean)
    }

    @Test("a version someone is waiting for moves to the front of the queue")
    func priority() throws {
        let (store, _, uids) = try ingest(["ct_explicit_le.dcm", "mr_explicit_le.dcm", "cr_explicit_be.dcm"])
        try store.index.prioritizeDerivation(sopInstanceUID: uids[2])
        #expect(try store.index.claimDerivation(owner: "test", now: 0)?.sopInstanceUID == uids[2])
        #expect(try store.index.claimDerivation(owner: "test", now: 0)?.sopInstanceUID == uids[0])
    }

    @Test("an original that cannot be decoded keeps its V1 and lists the missing versions with the reason")
    func undecodable() throws {
        var file = try DicomFile.read(try Repository.fixture("mr_rle.dcm"))
        file.transferSyntax = .jpeg2000  // RLE fragments are not JPEG 2000
        file.dataSet.set(.sopInstanceUID, .UI, UID.make())
        file.meta.set(.mediaStorageSOPInstanceUID, .UI, file.dataSet.string(.sopInstanceUID)!)
        let store = try Repository.openStore()
        let uid = try store.ingestService(codecs: InProcessCodecs()).ingest(fileBytes: try file.encoded()).sopInstanceUID
        let policies = try Policies.load(from: Repository.policies).get()
        try DerivationService(store: store, policy: { policies.compression }, codecs: InProcessCodecs()).drain(workers: 1)
        #expect(try store.index.files(sopInstanceUID: uid).map(\.variant) == ["original"])
        let missing = try store.index.derivation(sopInstanceUID: uid).missing
        #expect(Set(missing.keys) == ["V1", "V2", "V3"])
        #expect(missing["V2"]?.contains("cannot be decoded") == true)
    }

    @Test("a policy without the lossless copy makes only the lossy versions")
    func noLosslessCopy() throws {
        var policy = try Policies.load(from: Repository.policies).get().compression
        policy.losslessCopy = false
        let store = try Repository.openStore()
        let uid = try store.ingestService(codecs: InProcessCodecs()).ingest(fileBytes: try Repository.fixture("mr_explicit_le.dcm")).sopInstanceUID
        let withoutCopy = policy
        try DerivationService(store: store, policy: { withoutCopy }, codecs: InProcessCodecs()).drain(workers: 1)
        #expect(try store.index.files(sopInstanceUID: uid).map(\.variant).sorted() == ["j2k", "j2k", "original"])
    }
}
