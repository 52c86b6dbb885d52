import GRDB

/// Patients, studies, series, instances and their stored files (`InstanceIndex`).
extension SQLiteIndex {
    public func record(_ batch: [(attributes: IndexedAttributes, original: StoredFile)], receivedAt: Double) throws -> [RecordOutcome] {
        // Committed without its own flush: the ingest's one flush of the file system carries the WAL with the files.
        try withoutFlush { db in
            try batch.map { a, original in
                if let existing = try Self.original(db, sopInstanceUID: a.sopInstanceUID) { return .exists(existing) }
                let patient = try Self.patientRef(db, a)
                let study = try Self.studyRef(db, a, patient: patient, receivedAt: receivedAt)
                let series = try Self.seriesRef(db, a, study: study, receivedAt: receivedAt)
                try db.executeCached("""
                    INSERT INTO instance (uid, series_ref, sop_class_uid, number, rows, columns, frames, received_at)
                    VALUES (\(a.sopInstanceUID), \(series), \(a.sopClassUID), \(a.instanceNumber), \(a.rows), \(a.columns),
                      \(a.numberOfFrames), \(receivedAt))
                    """)
                let instance = db.lastInsertedRowID
                try original.insert(db, instance: instance, now: receivedAt)
                try db.executeCached("INSERT INTO derivation_job (instance_ref, state, updated_at) VALUES (\(instance), 'pending', \(receivedAt))")
                return .recorded
            }
        }
    }

    public func forget(sopInstanceUIDs: [String]) throws {
        // Flushed like every commit but the ingest's: the staged files go right after, so the rows must not come back.
        try pool.write { db in
            for uid in sopInstanceUIDs {
                guard let row = try SQLRequest<Row>("""
                    SELECT i.id, i.series_ref, s.study_ref, t.patient_ref FROM instance i JOIN series s ON i.series_ref = s.id
                    JOIN study t ON s.study_ref = t.id WHERE i.uid = \(uid)
                    """).fetchOne(db) else { continue }
                let instance: Int64 = row["id"], series: Int64 = row["series_ref"], study: Int64 = row["study_ref"]
                let patient: Int64 = row["patient_ref"]
                try db.execute(literal: "DELETE FROM derivation_job WHERE instance_ref = \(instance)")
                try db.execute(literal: "DELETE FROM stored_file WHERE instance_ref = \(instance)")
                try db.execute(literal: "DELETE FROM instance WHERE id = \(instance)")
                // Parents the instance brought are removed with it; a study someone already worked on stays.
                try db.execute(literal: "DELETE FROM series WHERE id = \(series) AND NOT EXISTS (SELECT 1 FROM instance WHERE series_ref = \(series))")
                try db.execute(literal: """
                    DELETE FROM study WHERE id = \(study) AND NOT EXISTS (SELECT 1 FROM series WHERE study_ref = \(study))
                      AND NOT EXISTS (SELECT 1 FROM status_change WHERE study_ref = \(study))
                      AND NOT EXISTS (SELECT 1 FROM diagnostic WHERE study_ref = \(study))
                    """)
                try db.execute(literal: "DELETE FROM patient WHERE id = \(patient) AND NOT EXISTS (SELECT 1 FROM study WHERE patient_ref = \(patient))")
            }
        }
    }

    public func files(sopInstanceUID: String) throws -> [StoredFile] {
        try pool.read { db in
            try SQLRequest<StoredFile>("""
                SELECT f.* FROM stored_file f JOIN instance i ON f.instance_ref = i.id WHERE i.uid = \(sopInstanceUID)
                ORDER BY f.version, f.variant, f.tier = 'fast' DESC
                """).fetchAll(db)
        }
    }

    public func original(sopInstanceUID: String) throws -> StoredFile? {
        // Asked for every received image: one statement needs no transaction, and stays prepared.
        try pool.unsafeRead { db in try Self.original(db, sopInstanceUID: sopInstanceUID) }
    }

    static func original(_ db: Database, sopInstanceUID: String) throws -> StoredFile? {
        let (sql, arguments) = try SQL("""
            SELECT f.* FROM stored_file f JOIN instance i ON f.instance_ref = i.id
            WHERE i.uid = \(sopInstanceUID) AND f.variant = 'original' ORDER BY f.tier = 'fast' DESC LIMIT 1
            """).build(db)
        return try StoredFile.fetchOne(db.cachedStatement(sql: sql), arguments: arguments)
    }

    private static func patientRef(_ db: Database, _ a: IndexedAttributes) throws -> Int64 {
        if let id = try db.fetchCached(Int64.self, "SELECT id FROM patient WHERE patient_id = \(a.patientID) AND issuer = \(a.issuerOfPatientID)") {
            return id
        }
        try db.executeCached("""
            INSERT INTO patient (patient_id, issuer, name, name_key, birth_date, sex)
            VALUES (\(a.patientID), \(a.issuerOfPatientID), \(a.patientName), \(a.patientName.uppercased()), \(a.patientBirthDate), \(a.patientSex))
            """)
        return db.lastInsertedRowID
    }

    private static func studyRef(_ db: Database, _ a: IndexedAttributes, patient: Int64, receivedAt: Double) throws -> Int64 {
        if let id = try db.fetchCached(Int64.self, "SELECT id FROM study WHERE uid = \(a.studyInstanceUID)") { return id }
        try db.executeCached("""
            INSERT INTO study (uid, patient_ref, date, time, accession, description, referring_physician, study_id, received_at)
            VALUES (\(a.studyInstanceUID), \(patient), \(a.studyDate), \(a.studyTime), \(a.accessionNumber), \(a.studyDescription),
              \(a.referringPhysicianName), \(a.studyID), \(receivedAt))
            """)
        return db.lastInsertedRowID
    }

    private static func seriesRef(_ db: Database, _ a: IndexedAttributes, study: Int64, receivedAt: Double) throws -> Int64 {
        if let id = try db.fetchCached(Int64.self, "SELECT id FROM series WHERE uid = \(a.seriesInstanceUID)") { return id }
        try db.executeCached("""
            INSERT INTO series (uid, study_ref, modality, number, description, body_part, received_at)
            VALUES (\(a.seriesInstanceUID), \(study), \(a.modality), \(a.seriesNumber), \(a.seriesDescription), \(a.bodyPartExamined), \(receivedAt))
            """)
        return db.lastInsertedRowID
    }

    public func patients(matching query: IndexQuery) throws -> [PatientSummary] {
        let filter = IndexFilter(query)
        return try pool.read { db in
            try SQLRequest<Row>("""
                SELECT p.patient_id, p.name, p.birth_date, p.sex,
                  (SELECT COUNT(*) FROM study s WHERE s.patient_ref = p.id) AS study_count,
                  (SELECT COUNT(*) FROM series se JOIN study s ON se.study_ref = s.id WHERE s.patient_ref = p.id) AS series_count,
                  (SELECT COUNT(*) FROM instance i JOIN series se ON i.series_ref = se.id JOIN study s ON se.study_ref = s.id
                    WHERE s.patient_ref = p.id) AS instance_count
                FROM patient p
                WHERE p.id IN (SELECT s.patient_ref FROM study s JOIN patient p ON s.patient_ref = p.id WHERE \(filter.studyConditions))
                ORDER BY p.patient_id, p.id
                \(filter.page)
                """).fetchAll(db).map { row in
                PatientSummary(patientID: row["patient_id"], patientName: row["name"], patientBirthDate: row["birth_date"],
                               patientSex: row["sex"], studyCount: row["study_count"], seriesCount: row["series_count"],
                               instanceCount: row["instance_count"])
            }
        }
    }

    public func studies(matching query: IndexQuery) throws -> [StudySummary] {
        let filter = IndexFilter(query)
        return try pool.read { db in
            let rows = try SQLRequest<Row>("""
                SELECT s.id, s.uid, s.date, s.time, s.accession, s.description, s.referring_physician, s.study_id, s.status,
                  p.patient_id, p.name, p.birth_date, p.sex,
                  (SELECT COUNT(*) FROM series se WHERE se.study_ref = s.id) AS series_count,
                  (SELECT COUNT(*) FROM instance i JOIN series se ON i.series_ref = se.id WHERE se.study_ref = s.id) AS instance_count
                FROM study s JOIN patient p ON s.patient_ref = p.id
                WHERE \(filter.studyConditions)
                ORDER BY s.date DESC, s.time DESC, s.id
                \(filter.page)
                """).fetchAll(db)
            let modalities = try Self.modalities(db, studies: rows.map { $0["id"] as Int64 })
            return try rows.map { row in
                StudySummary(studyInstanceUID: row["uid"], patientID: row["patient_id"], patientName: row["name"],
                             patientBirthDate: row["birth_date"], patientSex: row["sex"],
                             studyDate: row["date"], studyTime: row["time"], accessionNumber: row["accession"],
                             studyDescription: row["description"], referringPhysicianName: row["referring_physician"],
                             studyID: row["study_id"], status: try Self.status(row["status"], study: row["uid"]),
                             modalities: modalities[row["id"]] ?? [], seriesCount: row["series_count"], instanceCount: row["instance_count"])
            }
        }
    }

    private static func modalities(_ db: Database, studies: [Int64]) throws -> [Int64: [String]] {
        var result: [Int64: [String]] = [:]
        for chunk in studies.chunked(into: 500) {
            for row in try SQLRequest<Row>("SELECT DISTINCT study_ref, modality FROM series WHERE study_ref IN \(chunk) ORDER BY modality").fetchAll(db) {
                result[row["study_ref"], default: []].append(row["modality"])
            }
        }
        return result
    }

    public func series(matching query: IndexQuery) throws -> [SeriesSummary] {
        let filter = IndexFilter(query)
        return try pool.read { db in
            try SQLRequest<Row>("""
                SELECT se.uid, s.uid AS study_uid, se.modality, se.number, se.description, se.body_part,
                  (SELECT COUNT(*) FROM instance i WHERE i.series_ref = se.id) AS instance_count
                FROM series se JOIN study s ON se.study_ref = s.id JOIN patient p ON s.patient_ref = p.id
                WHERE \(filter.seriesConditions)
                ORDER BY s.uid, se.number, se.id
                \(filter.page)
                """).fetchAll(db).map { row in
                SeriesSummary(seriesInstanceUID: row["uid"], studyInstanceUID: row["study_uid"], modality: row["modality"],
                              seriesNumber: row["number"], seriesDescription: row["description"], bodyPartExamined: row["body_part"],
                              instanceCount: row["instance_count"])
            }
        }
    }

    public func instances(matching query: IndexQuery) throws -> [InstanceSummary] {
        let filter = IndexFilter(query)
        return try pool.read { db in
            let rows = try SQLRequest<Row>("""
                SELECT i.id, i.uid, i.sop_class_uid, i.number, i.rows, i.columns, i.frames, se.uid AS series_uid, s.uid AS study_uid
                FROM instance i JOIN series se ON i.series_ref = se.id JOIN study s ON se.study_ref = s.id
                  JOIN patient p ON s.patient_ref = p.id
                WHERE \(filter.instanceConditions)
                ORDER BY s.uid, se.number, se.id, i.number, i.id
                \(filter.page)
                """).fetchAll(db)
            var files: [Int64: [StoredFile]] = [:]
            for chunk in rows.map({ $0["id"] as Int64 }).chunked(into: 500) {
                for row in try SQLRequest<Row>("""
                    SELECT * FROM stored_file WHERE instance_ref IN \(chunk) ORDER BY version, variant, tier = 'fast' DESC
                    """).fetchAll(db) {
                    files[row["instance_ref"], default: []].append(StoredFile(row: row))
                }
            }
            return rows.map { row in
                let stored = files[row["id"]] ?? []
                return InstanceSummary(sopInstanceUID: row["uid"], sopClassUID: row["sop_class_uid"], seriesInstanceUID: row["series_uid"],
                                       studyInstanceUID: row["study_uid"], instanceNumber: row["number"],
                                       rows: row["rows"], columns: row["columns"], numberOfFrames: row["frames"],
                                       transferSyntaxUID: stored.first { $0.variant == "original" }?.transferSyntaxUID ?? "",
                                       files: stored)
            }
        }
    }

    public func storedFiles(tier: String) throws -> [IndexedFile] {
        try pool.read { db in
            try SQLRequest<Row>("SELECT f.*, i.uid FROM stored_file f JOIN instance i ON f.instance_ref = i.id WHERE f.tier = \(tier) ORDER BY f.path")
                .fetchAll(db).map { IndexedFile(sopInstanceUID: $0["uid"], file: StoredFile(row: $0)) }
        }
    }

    public func storedFile(tier: String, path: String) throws -> IndexedFile? {
        try pool.read { db in
            try SQLRequest<Row>("SELECT f.*, i.uid FROM stored_file f JOIN instance i ON f.instance_ref = i.id WHERE f.tier = \(tier) AND f.path = \(path)")
                .fetchOne(db).map { IndexedFile(sopInstanceUID: $0["uid"], file: StoredFile(row: $0)) }
        }
    }
}
