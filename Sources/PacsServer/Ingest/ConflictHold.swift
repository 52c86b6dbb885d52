import Foundation
import Tiering

/// Objects that arrived under a SOP Instance UID already stored with other content: each is kept aside (its file in
/// `<data>/conflicts`, a row in the index) for an admin to look at and resolve with `pacs conflict`, never stored
/// over the first and never lost. The same object arriving again is held once.
public struct ConflictHold: Sendable {
    let folder: URL
    let index: ConflictRecords

    public init(folder: URL, index: ConflictRecords) {
        self.folder = folder
        self.index = index
    }

    /// Keeps `bytes` aside (durably, before this returns) and records why; returns the record.
    func hold(_ bytes: [UInt8], sopInstanceUID: String, difference: String, source: String, now: Double) throws -> HeldConflict {
        let sha256 = SHA256.hash(bytes)
        if let held = try index.heldConflict(sha256: sha256) { return held }
        try DurableFile.makeDirectory(folder)
        let name = "\(sha256).dcm"
        let temporary = folder.appendingPathComponent(".\(name).\(getpid()).tmp")
        try? DurableFile.remove(temporary)
        try DurableFile.create(temporary, bytes: bytes)
        try DurableFile.rename(temporary, to: folder.appendingPathComponent(name))
        return try index.holdConflict(HeldConflict(id: 0, sopInstanceUID: sopInstanceUID, receivedAt: now, source: source,
                                                   difference: difference, file: name, size: bytes.count, sha256: sha256))
    }

    /// Where a held object's file is.
    public func url(of conflict: HeldConflict) -> URL {
        folder.appendingPathComponent(conflict.file)
    }

    /// Drops a held object (the admin decided the stored instance is right): its row, then its file.
    public func discard(id: Int64) throws -> HeldConflict? {
        guard let held = try index.releaseConflict(id: id) else { return nil }
        try DurableFile.remove(url(of: held))
        return held
    }
}
