import Foundation
import Testing
import Tiering

@Suite("Tier folders: durable placement, staging and recovery hand-off")
struct TierDirectoryTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("strata-tier-\(UUID().uuidString)")

    @Test("SHA-256 matches the standard's test vectors")
    func sha256() {
        #expect(SHA256.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hash([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test("placement is a hashed path that reveals nothing of the UIDs, one folder per study, versions beside their original")
    func placement() {
        let path = TierDirectory.placement(study: "1.2.9", instance: "1.2.3.4", variant: "original")
        let parts = path.split(separator: "/")
        #expect(parts.count == 3)
        #expect(parts[0].count == 2 && parts[1].hasPrefix(parts[0]))
        #expect(!path.contains("1.2.3.4") && !path.contains("1.2.9"))
        #expect(path == TierDirectory.placement(study: "1.2.9", instance: "1.2.3.4", variant: "original"))
        let sibling = TierDirectory.placement(study: "1.2.9", instance: "1.2.3.5", variant: "original")
        #expect(sibling != path && sibling.split(separator: "/").dropLast() == parts.dropLast())
        #expect(TierDirectory.placement(study: "1.2.8", instance: "1.2.3.4", variant: "original").split(separator: "/")[1] != parts[1])
        let version = TierDirectory.placement(beside: path, instance: "1.2.3.4", variant: "V2-lossy")
        #expect(version == TierDirectory.placement(study: "1.2.9", instance: "1.2.3.4", variant: "V2-lossy"))
        // An original stored in the earlier layout (a folder pair per instance) keeps its versions beside it.
        #expect(TierDirectory.placement(beside: "ab/cd/x.original.dcm", instance: "1.2.3.4", variant: "V3-lossy").hasPrefix("ab/cd/"))
    }

    @Test("a staged file is invisible until published, then has its bytes and hash")
    func stageAndPublish() throws {
        let tier = TierDirectory(name: "fast", root: root)
        let session = try StagingSession(tier: tier)
        let bytes: [UInt8] = Array("hello tier".utf8)
        let staged = try tier.stage(bytes, as: "ab/cd/file.dcm", in: session)
        #expect(!FileManager.default.fileExists(atPath: tier.url(for: "ab/cd/file.dcm").path))
        #expect(staged.sha256 == SHA256.hash(bytes))
        try tier.publish(staged)
        #expect(try DurableFile.read(tier.url(for: "ab/cd/file.dcm")) == bytes)
        #expect(tier.storedFiles() == ["ab/cd/file.dcm"])
        let digest = try DurableFile.digest(tier.url(for: "ab/cd/file.dcm"))
        #expect(digest.sha256 == staged.sha256 && digest.size == bytes.count)
        try? FileManager.default.removeItem(at: root)
    }

    @Test("a live writer's staging folder is not abandoned; a dead writer's is, with its files")
    func abandonedStaging() throws {
        let tier = TierDirectory(name: "fast", root: root)
        var session: StagingSession? = try StagingSession(tier: tier)
        let staged = try tier.stage([1, 2, 3], as: "aa/bb/x.dcm", in: session!)
        #expect(StagingSession.abandoned(in: tier).isEmpty)
        session = nil  // the writer goes away with a file still staged
        let abandoned = StagingSession.abandoned(in: tier)
        #expect(abandoned.count == 1)
        #expect(abandoned.first?.files.map(\.lastPathComponent) == [staged.stagingURL.lastPathComponent])
        #expect(StagedFile.destination(ofStagingName: staged.stagingURL.lastPathComponent) == "aa/bb/x.dcm")
        abandoned.forEach { $0.release() }
        try? FileManager.default.removeItem(at: root)
    }

    @Test("a write to a missing, read-only place fails with an error that names the path")
    func writeErrors() {
        let error = #expect(throws: StoreError.self) {
            try DurableFile.create(URL(fileURLWithPath: "/proc/strata-cannot-write"), bytes: [1])
        }
        #expect(error?.description.contains("/proc/strata-cannot-write") == true)
    }

    @Test("admins' quantities: sizes and durations")
    func quantities() {
        #expect(Quantity.bytes("500GB") == 500 << 30)
        #expect(Quantity.bytes("10kb") == 10_240)
        #expect(Quantity.bytes("12") == 12)
        #expect(Quantity.bytes("lots") == nil)
        #expect(Quantity.seconds("7d") == 604_800)
        #expect(Quantity.seconds("90m") == 5_400)
        #expect(Quantity.seconds("soon") == nil)
    }
}
