import Foundation
import GRDB

/// A `stored_file` row as a stored file; its frames' layout is JSON in one column.
extension StoredFile: FetchableRecord {
    private static let coder = (JSONEncoder(), JSONDecoder())

    public init(row: Row) {
        let frames = (row["frames"] as String?).flatMap { try? Self.coder.1.decode([FrameLayout].self, from: Data($0.utf8)) }
        self.init(version: row["version"], variant: row["variant"], tier: row["tier"], path: row["path"],
                  size: row["size"], sha256: row["sha256"], transferSyntaxUID: row["transfer_syntax"],
                  sopInstanceUID: row["sop_instance_uid"], purpose: row["purpose"], quality: row["quality"],
                  targetRatio: row["target_ratio"], achievedRatio: row["achieved_ratio"], psnr: row["psnr"],
                  maxError: row["max_error"], frames: frames, headerLength: row["header_length"])
    }

    /// Records the file as a copy of instance `instance` (the catalog's id).
    func insert(_ db: Database, instance: Int64, now: Double) throws {
        let framesJSON = try frames.map { String(decoding: try Self.coder.0.encode($0), as: UTF8.self) }
        try db.executeCached("""
            INSERT INTO stored_file (instance_ref, version, variant, tier, path, size, sha256, transfer_syntax, created_at,
              sop_instance_uid, purpose, quality, target_ratio, achieved_ratio, psnr, max_error, frames, header_length)
            VALUES (\(instance), \(version), \(variant), \(tier), \(path), \(size), \(sha256), \(transferSyntaxUID), \(now),
              \(sopInstanceUID), \(purpose), \(quality), \(targetRatio), \(achievedRatio), \(psnr), \(maxError), \(framesJSON), \(headerLength))
            """)
    }
}
