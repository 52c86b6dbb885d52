import GRDB
import Tiering

/// The mover's view of the index: objects and their copies per tier, the journal, events, prefetches.
extension SQLiteIndex {
    private static let objectColumns: SQL = """
        SELECT f.instance_ref, f.version, f.variant, f.tier, f.path, f.size, f.sha256, f.created_at, f.expires_at,
               i.uid AS sop, s.uid AS study, s.id AS study_id, s.received_at AS study_received, p.patient_id, se.modality
        FROM stored_file f JOIN instance i ON f.instance_ref = i.id JOIN series se ON i.series_ref = se.id
          JOIN study s ON se.study_ref = s.id JOIN patient p ON s.patient_ref = p.id
        """

    public func tieredObjects(studyInstanceUIDs: [String]?, patientID: String?) throws -> [TieredObject] {
        var conditions: [SQL] = []
        if let studies = studyInstanceUIDs { conditions.append(studies.isEmpty ? "1 = 0" : "s.uid IN \(studies)") }
        if let patientID { conditions.append("p.patient_id = \(patientID)") }
        let whereClause: SQL = conditions.isEmpty ? "" : "WHERE \(conditions.joined(separator: " AND "))"
        return try pool.read { db in
            try Self.objects(db, rows: try SQLRequest<Row>("\(Self.objectColumns) \(whereClause) ORDER BY f.id").fetchAll(db))
        }
    }

    public func tieredObject(path: String) throws -> TieredObject? {
        try pool.read { db in
            try Self.objects(db, rows: try SQLRequest<Row>("\(Self.objectColumns) WHERE f.path = \(path)").fetchAll(db)).first
        }
    }

    /// Rows (one per copy) grouped into objects, with when each study reached each status.
    private static func objects(_ db: Database, rows: [Row]) throws -> [TieredObject] {
        var reached: [Int64: [String: Double]] = [:]
        for chunk in Array(Set(rows.map { $0["study_id"] as Int64 })).chunked(into: 500) {
            for change in try SQLRequest<Row>("SELECT study_ref, to_status, at FROM status_change WHERE study_ref IN \(chunk) ORDER BY at").fetchAll(db) {
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
        try pool.read { db in try SQLRequest<TierTransfer>("SELECT * FROM tier_transfer ORDER BY id").fetchAll(db) }
    }

    public func beginTransfers(_ transfers: [TierTransfer]) throws -> [TierTransfer] {
        try pool.write { db in
            try transfers.map { transfer in
                try db.execute(literal: """
                    INSERT INTO tier_transfer (instance_ref, version, variant, path, sha256, size, kind, source, destination, expires_at, reason, state)
                    VALUES (\(transfer.object.instance), \(transfer.object.version), \(transfer.object.variant), \(transfer.path),
                      \(transfer.sha256), \(transfer.size), \(transfer.kind.rawValue), \(transfer.source), \(transfer.destination),
                      \(transfer.expiresAt), \(transfer.reason), \(TierTransfer.State.copying.rawValue))
                    """)
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
                let copy: SQL = """
                    instance_ref = \(transfer.object.instance) AND version = \(transfer.object.version) AND variant = \(transfer.object.variant)
                    """
                if transfer.kind != .drop {
                    try db.execute(literal: """
                        INSERT INTO stored_file (instance_ref, version, variant, tier, path, size, sha256, transfer_syntax, created_at,
                          sop_instance_uid, purpose, quality, target_ratio, achieved_ratio, psnr, max_error, frames, header_length, expires_at, verified_at)
                        SELECT instance_ref, version, variant, \(transfer.destination), path, size, sha256, transfer_syntax, created_at,
                          sop_instance_uid, purpose, quality, target_ratio, achieved_ratio, psnr, max_error, frames, header_length,
                          \(transfer.expiresAt), \(now)
                        FROM stored_file WHERE \(copy) AND tier = \(transfer.source)
                        """)
                }
                if transfer.kind != .copy {
                    let staying = try SQLRequest<Int>("SELECT COUNT(*) FROM stored_file WHERE \(copy) AND tier = \(transfer.destination)").fetchOne(db) ?? 0
                    // The last line of defence: never unindex the only copy.
                    guard staying == 1 else { throw DatabaseError(message: "\(transfer.path) has no indexed copy on \(transfer.destination): not removing its \(transfer.source) copy") }
                    try db.execute(literal: "DELETE FROM stored_file WHERE \(copy) AND tier = \(transfer.source)")
                }
                try db.execute(literal: "UPDATE tier_transfer SET state = \(TierTransfer.State.switched.rawValue) WHERE id = \(transfer.id)")
            }
        }
    }

    public func endTransfers(_ ids: [Int64]) throws {
        guard !ids.isEmpty else { return }
        try pool.write { db in
            try db.execute(literal: "DELETE FROM tier_transfer WHERE id IN \(ids)")
        }
    }

    // MARK: Events, scrub, prefetch

    public func record(_ events: [TierEvent]) throws {
        guard !events.isEmpty else { return }
        try pool.write { db in
            for event in events {
                try db.execute(literal: """
                    INSERT INTO tier_event (kind, bytes, seconds, at, detail)
                    VALUES (\(event.kind.rawValue), \(event.bytes), \(event.seconds), \(event.at), \(event.detail))
                    """)
            }
        }
    }

    public func events(since: Double) throws -> [TierEvent] {
        try pool.read { db in
            try SQLRequest<TierEvent>("SELECT * FROM tier_event WHERE at >= \(since) ORDER BY id").fetchAll(db)
        }
    }

    public func scrubCandidates(tier: String, limit: Int) throws -> [TieredObject] {
        try pool.read { db in
            let rows = try SQLRequest<Row>("\(Self.objectColumns) WHERE f.tier = \(tier) ORDER BY COALESCE(f.verified_at, 0), f.id LIMIT \(limit)")
                .fetchAll(db)
            return try Self.objects(db, rows: rows)
        }
    }

    public func markVerified(_ key: TieredObject.Key, tier: String, at: Double) throws {
        try pool.write { db in
            try db.execute(literal: """
                UPDATE stored_file SET verified_at = \(at)
                WHERE instance_ref = \(key.instance) AND version = \(key.version) AND variant = \(key.variant) AND tier = \(tier)
                """)
        }
    }

    public func schedulePrefetch(_ prefetch: Prefetch) throws -> Prefetch {
        try pool.write { db in
            try db.execute(literal: """
                INSERT INTO prefetch (patient_id, scheduled_at, requested_by) VALUES (\(prefetch.patientID), \(prefetch.scheduledAt), \(prefetch.requestedBy))
                """)
            var scheduled = prefetch
            scheduled.id = db.lastInsertedRowID
            return scheduled
        }
    }

    public func prefetches(pendingOnly: Bool) throws -> [Prefetch] {
        try pool.read { db in
            let pending: SQL = pendingOnly ? "WHERE done_at IS NULL" : ""
            return try SQLRequest<Prefetch>("SELECT * FROM prefetch \(pending) ORDER BY scheduled_at").fetchAll(db)
        }
    }

    public func completePrefetch(id: Int64, at: Double) throws {
        try pool.write { db in try db.execute(literal: "UPDATE prefetch SET done_at = \(at) WHERE id = \(id)") }
    }
}

extension TierTransfer: FetchableRecord {
    public init(row: Row) {
        self.init(id: row["id"], kind: TierTransfer.Kind(rawValue: row["kind"]) ?? .copy,
                  object: TieredObject.Key(instance: row["instance_ref"], version: row["version"], variant: row["variant"]),
                  path: row["path"], sha256: row["sha256"], size: row["size"], source: row["source"], destination: row["destination"],
                  expiresAt: row["expires_at"], reason: row["reason"], state: TierTransfer.State(rawValue: row["state"]) ?? .copying)
    }
}

extension TierEvent: FetchableRecord {
    public init(row: Row) {
        self.init(kind: TierEvent.Kind(rawValue: row["kind"]) ?? .failed, bytes: row["bytes"], seconds: row["seconds"], at: row["at"], detail: row["detail"])
    }
}

extension Prefetch: FetchableRecord {
    public init(row: Row) {
        self.init(id: row["id"], patientID: row["patient_id"], scheduledAt: row["scheduled_at"], requestedBy: row["requested_by"], doneAt: row["done_at"])
    }
}
