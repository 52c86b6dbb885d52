import GRDB

extension HeldConflict: FetchableRecord, TableRecord {
    public static let databaseTableName = "held_conflict"

    public init(row: Row) {
        self.init(id: row["id"], sopInstanceUID: row["sop_instance_uid"], receivedAt: row["received_at"], source: row["source"],
                  difference: row["difference"], file: row["file"], size: row["size"], sha256: row["sha256"])
    }
}

extension SQLiteIndex {
    public func holdConflict(_ conflict: HeldConflict) throws -> HeldConflict {
        try pool.write { db in
            if let held = try HeldConflict.filter(Column("sha256") == conflict.sha256).fetchOne(db) { return held }
            var row = conflict
            try db.execute(literal: """
                INSERT INTO held_conflict (sop_instance_uid, received_at, source, difference, file, size, sha256)
                VALUES (\(row.sopInstanceUID), \(row.receivedAt), \(row.source), \(row.difference), \(row.file), \(row.size), \(row.sha256))
                """)
            row.id = db.lastInsertedRowID
            return row
        }
    }

    public func heldConflict(sha256: String) throws -> HeldConflict? {
        try pool.read { db in try HeldConflict.filter(Column("sha256") == sha256).fetchOne(db) }
    }

    public func heldConflicts() throws -> [HeldConflict] {
        try pool.read { db in try HeldConflict.order(Column("id")).fetchAll(db) }
    }

    public func releaseConflict(id: Int64) throws -> HeldConflict? {
        try pool.write { db in
            guard let held = try HeldConflict.fetchOne(db, key: id) else { return nil }
            try HeldConflict.deleteOne(db, key: id)
            return held
        }
    }
}
