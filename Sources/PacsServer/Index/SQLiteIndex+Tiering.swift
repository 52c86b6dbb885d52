import Foundation
import GRDB
import Tiering

/// The mover's view of the index: objects and their copies per tier, the journal, events, prefetches.
extension SQLiteIndex {
    private static let objectColumns = """
        SELECT f.instance_ref, f.version, f.variant, f.tier, f.path, f.size, f.sha256, f.created_at, f.expires_at,
               i.uid AS sop, s.uid AS study, s.id AS study_id, s.received_at AS study_received, p.patient_id, se.modality
        FROM stored_file f JOIN instance i ON f.instance_ref = i.id JOIN series se ON i.series_ref = se.id
          JOIN study s ON se.study_ref = s.id JOIN patient p ON s.patient_ref = p.id
        """

    public func tieredObjects(studyInstanceUIDs: [String]?, patientID: String?) throws -> [TieredObject] {
        var conditions: [String] = []
        var arguments: [DatabaseValueConvertible] = []
        if let studies = studyInstanceUIDs {
            conditions.append("s.uid IN (\(Array(repeating: "?", count: max(1, studies.count)).joined(separator: ",")))")
            arguments += studies.isEmpty ? [""] : studies
        }
        if let patientID {
            conditions.append("p.patient_id = ?")
            arguments.append(patientID)
        }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        return try pool.read { db in
            try Self.objects(db, rows: try Row.fetchAll(db, sql: "\(Self.objectColumns) \(whereClause) ORDER BY f.id", arguments: StatementArguments(arguments)))
        }
    }

    public func tieredObject(path: String) throws -> TieredObject? {
        try pool.read { db in
            try Self.objects(db, rows: try Row.fetchAll(db, sql: "\(Self.objectColumns) WHERE f.path = ?", arguments: [path])).first
        }
    }

    /// Rows (one per copy) grouped into objects, with when each study reached each status.
    private static func objects(_ db: Database, rows: [Row]) throws -> [TieredObject] {
        var reached: [Int64: [String: Double]] = [:]
        let studies = Set(rows.map { $0["study_id"] as Int64 })
        for chunk in stride(from: 0, to: studies.count, by: 500).map({ Array(Array(studies)[$0..<min($0 + 500, studies.count)]) }) {
            let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
            for change in try Row.fetchAll(db, sql: "SELECT study_ref, to_status, at FROM status_change WHERE study_ref IN (\(marks)) ORDER BY at",
                                           arguments: StatementArguments(chunk)) {
                // Reaching a status means reaching it or any later one: a study reported at once was also diagnosed.
                for status in DiagnosisStatus.allCases where status.rawValue <= change["to_status"] as Int {
                    if reached[change["study_ref"], default: [:]][status.name] == nil { reached[change["study_ref"], default: [:]][status.name] = change["at"] }
                }
            }
        }
        var objects: [TieredObject] = []
        var position: [TieredObject.Key: Int] = [:]
        for row in rows {
            let key = TieredObject.Key(instance: row["instance_ref"], version: row["version"], variant: row["variant"])
            let expires: Double? = row["expires_at"]
            if let at = position[key] {
                objects[at].copies[row["tier"]] = .some(expires)
                objects[at].ingestedAt = min(objects[at].ingestedAt, row["created_at"])
                continue
            }
            var statuses = reached[row["study_id"]] ?? [:]
            statuses[DiagnosisStatus.unread.name] = row["study_received"] as Double
            position[key] = objects.count
            objects.append(TieredObject(key: key, sopInstanceUID: row["sop"], studyInstanceUID: row["study"], patientID: row["patient_id"],
                                        modality: row["modality"], path: row["path"], size: row["size"], sha256: row["sha256"],
                                        copies: [row["tier"] as String: expires], ingestedAt: row["created_at"], statusReachedAt: statuses))
        }
        return objects
    }

    // MARK: Journal

    public func transfers() throws -> [TierTransfer] {
        try pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM tier_transfer ORDER BY id").map(Self.transfer) }
    }

    public func beginTransfers(_ transfers: [TierTransfer]) throws -> [TierTransfer] {
        try pool.write { db in
            try transfers.map { transfer in
                try db.execute(sql: """
                    INSERT INTO tier_transfer (instance_ref, version, variant, path, sha256, size, kind, source, destination, expires_at, reason, state)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [transfer.object.instance, transfer.object.version, transfer.object.variant, transfer.path, transfer.sha256,
                                     transfer.size, transfer.kind.rawValue, transfer.source, transfer.destination, transfer.expiresAt,
                                     transfer.reason, TierTransfer.State.copying.rawValue])
                var begun = transfer
                begun.id = db.lastInsertedRowID
                begun.state = .copying
                return begun
            }
        }
    }

    public func switchTransfers(_ transfers: [TierTransfer], now: Double) throws {
        guard !transfers.isEmpty else { return }
        try pool.write { db in
            for transfer in transfers {
                let key: StatementArguments = [transfer.object.instance, transfer.object.version, transfer.object.variant]
                if transfer.kind != .drop {
                    try db.execute(sql: """
                        INSERT INTO stored_file (instance_ref, version, variant, tier, path, size, sha256, transfer_syntax, created_at,
                          sop_instance_uid, purpose, quality, target_ratio, achieved_ratio, psnr, max_error, frames, header_length, expires_at, verified_at)
                        SELECT instance_ref, version, variant, ?, path, size, sha256, transfer_syntax, created_at,
                          sop_instance_uid, purpose, quality, target_ratio, achieved_ratio, psnr, max_error, frames, header_length, ?, ?
                        FROM stored_file WHERE instance_ref = ? AND version = ? AND variant = ? AND tier = ?
                        """, arguments: [transfer.destination, transfer.expiresAt, now] + key + [transfer.source])
                }
                if transfer.kind != .copy {
                    let staying = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM stored_file WHERE instance_ref = ? AND version = ? AND variant = ? AND tier = ?",
                                                   arguments: key + [transfer.destination]) ?? 0
                    // The last line of defence: never unindex the only copy.
                    guard staying == 1 else { throw DatabaseError(message: "\(transfer.path) has no indexed copy on \(transfer.destination): not removing its \(transfer.source) copy") }
                    try db.execute(sql: "DELETE FROM stored_file WHERE instance_ref = ? AND version = ? AND variant = ? AND tier = ?",
                                   arguments: key + [transfer.source])
                }
                try db.execute(sql: "UPDATE tier_transfer SET state = ? WHERE id = ?", arguments: [TierTransfer.State.switched.rawValue, transfer.id])
            }
        }
    }

    public func endTransfers(_ ids: [Int64]) throws {
        guard !ids.isEmpty else { return }
        try pool.write { db in
            for id in ids { try db.execute(sql: "DELETE FROM tier_transfer WHERE id = ?", arguments: [id]) }
        }
    }

    private static func transfer(_ row: Row) -> TierTransfer {
        TierTransfer(id: row["id"], kind: TierTransfer.Kind(rawValue: row["kind"]) ?? .copy,
                     object: TieredObject.Key(instance: row["instance_ref"], version: row["version"], variant: row["variant"]),
                     path: row["path"], sha256: row["sha256"], size: row["size"], source: row["source"], destination: row["destination"],
                     expiresAt: row["expires_at"], reason: row["reason"], state: TierTransfer.State(rawValue: row["state"]) ?? .copying)
    }

    // MARK: Events, scrub, prefetch

    public func record(_ events: [TierEvent]) throws {
        guard !events.isEmpty else { return }
        try pool.write { db in
            for event in events {
                try db.execute(sql: "INSERT INTO tier_event (kind, bytes, seconds, at, detail) VALUES (?, ?, ?, ?, ?)",
                               arguments: [event.kind.rawValue, event.bytes, event.seconds, event.at, event.detail])
            }
        }
    }

    public func events(since: Double) throws -> [TierEvent] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM tier_event WHERE at >= ? ORDER BY id", arguments: [since]).map {
                TierEvent(kind: TierEvent.Kind(rawValue: $0["kind"]) ?? .failed, bytes: $0["bytes"], seconds: $0["seconds"], at: $0["at"], detail: $0["detail"])
            }
        }
    }

    public func scrubCandidates(tier: String, limit: Int) throws -> [TieredObject] {
        try pool.read { db in
            let rows = try Row.fetchAll(db, sql: "\(Self.objectColumns) WHERE f.tier = ? ORDER BY COALESCE(f.verified_at, 0), f.id LIMIT ?",
                                        arguments: [tier, limit])
            return try Self.objects(db, rows: rows)
        }
    }

    public func markVerified(_ key: TieredObject.Key, tier: String, at: Double) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE stored_file SET verified_at = ? WHERE instance_ref = ? AND version = ? AND variant = ? AND tier = ?",
                           arguments: [at, key.instance, key.version, key.variant, tier])
        }
    }

    public func schedulePrefetch(_ prefetch: Prefetch) throws -> Prefetch {
        try pool.write { db in
            try db.execute(sql: "INSERT INTO prefetch (patient_id, scheduled_at, requested_by) VALUES (?, ?, ?)",
                           arguments: [prefetch.patientID, prefetch.scheduledAt, prefetch.requestedBy])
            var scheduled = prefetch
            scheduled.id = db.lastInsertedRowID
            return scheduled
        }
    }

    public func prefetches(pendingOnly: Bool) throws -> [Prefetch] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM prefetch \(pendingOnly ? "WHERE done_at IS NULL" : "") ORDER BY scheduled_at").map {
                Prefetch(id: $0["id"], patientID: $0["patient_id"], scheduledAt: $0["scheduled_at"], requestedBy: $0["requested_by"], doneAt: $0["done_at"])
            }
        }
    }

    public func completePrefetch(id: Int64, at: Double) throws {
        try pool.write { db in try db.execute(sql: "UPDATE prefetch SET done_at = ? WHERE id = ?", arguments: [at, id]) }
    }
}
