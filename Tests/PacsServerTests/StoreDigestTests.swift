import DICOM
import Foundation
import NIOCore
import Testing
import Tiering
@testable import PacsServer

@Suite("A C-STORE's file hash, taken while its dataset arrives")
struct StoreDigestTests {
    private func command(_ instance: String) -> DataSet {
        var command = DataSet()
        command.set(.affectedSOPClassUID, .UI, "1.2.840.10008.5.1.4.1.1.2")
        command.set(.affectedSOPInstanceUID, .UI, instance)
        return command
    }

    /// Fragments of a dataset as a peer sends them: `count` PDVs of 128 KB of varying bytes.
    private func fragments(_ count: Int) -> [[UInt8]] {
        (0..<count).map { index in (0..<(128 << 10)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) } }
    }

    @Test("the hash is the stored file's (our header, then the dataset), whether the dataset is small or larger than what is kept unhashed")
    func hashesHeaderThenDataset() throws {
        for count in [1, 4, 20] {  // 128 KB, 512 KB, 2.5 MB
            let digest = try #require(StoreDigest(command: command("1.2.3.\(count)"), syntax: .explicitVRLittleEndian, sourceAE: "MODALITY"))
            let parts = fragments(count)
            parts.forEach { digest.received(ByteBuffer(bytes: $0)) }
            digest.completed()
            #expect(digest.finalize() == SHA256.hash(digest.header + parts.flatMap { $0 }))
        }
    }

    @Test("the ingest asking while the event loop hashes gets the same hash, once")
    func secondCallerWaits() async throws {
        let digest = try #require(StoreDigest(command: command("1.2.3.9"), syntax: .explicitVRLittleEndian, sourceAE: "MODALITY"))
        let parts = fragments(8)
        parts.forEach { digest.received(ByteBuffer(bytes: $0)) }
        async let eventLoop: Void = Task.detached { digest.completed() }.value
        let asked = await Task.detached { digest.finalize() }.value
        await eventLoop
        #expect(asked == SHA256.hash(digest.header + parts.flatMap { $0 }))
        #expect(digest.finalize() == asked)
    }
}
