import Foundation
import GRDB

/// The index in SQLite (WAL, full synchronous commits) through GRDB. All SQL of the index lives here,
/// written in the portable subset (no SQLite-only functions), so another database can follow.
public final class SQLiteIndex: ImageIndex {
    let pool: DatabasePool

    public let folder: URL

    public init(path: String) throws {
        folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA foreign_keys = ON")
        }
        configuration.busyMode = .timeout(30)
        pool = try DatabasePool(path: path, configuration: configuration)
        // A commit returns only once it is on disk: an acknowledged change survives a power cut (the ingest's
        // `record` alone leaves that to its caller's flush). Set on the one writer connection after the pool is
        // open, because GRDB sets NORMAL when it turns WAL on.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        try IndexSchema.migrator.migrate(pool)
    }

    public func record(_ batch: [(attributes: IndexedAttributes, original: StoredFile)], receivedAt: Double) throws -> [RecordOutcome] {
        // Committed without its own flush: the ingest's one flush of the file system carries the WAL with the files.
        try withoutFlush { db in
            try batch.map { a, original in
                if let existing = try Self.original(db, sopInstanceUID: a.sopInstanceUID) { return .exists(existing) }
                let patient = try Self.patientRef(db, a)
                let study = try Self.studyRef(db, a, patient: patient, receivedAt: receivedAt)
                let series = try Self.seriesRef(db, a, study: study, receivedAt: receivedAt)
                try db.cachedStatement(sql: """
                    INSERT INTO instance (uid, series_ref, sop_class_uid, number, rows, columns, frames, received_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """).execute(arguments: [a.sopInstanceUID, series, a.sopClassUID, a.instanceNumber, a.rows, a.columns, a.numberOfFrames, receivedAt])
                let instance = db.lastInsertedRowID
                try Self.insert(db, original, instance: instance, now: receivedAt)
                try db.cachedStatement(sql: "INSERT INTO derivation_job (instance_ref, state, updated_at) VALUES (?, 'pending', ?)")
                    .execute(arguments: [instance, receivedAt])
                return .recorded
            }
        }
    }

    public func forget(sopInstanceUIDs: [String]) throws {
        // Flushed like every commit but the ingest's: the staged files go right after, so the rows must not come back.
        try pool.write { db in
            for uid in sopInstanceUIDs {
                guard let row = try Row.fetchOne(db, sql: """
                    SELECT i.id, i.series_ref, s.study_ref, t.patient_ref FROM instance i JOIN series s ON i.series_ref = s.id
                    JOIN study t ON s.study_ref = t.id WHERE i.uid = ?
                    """, arguments: [uid]) else { continue }
                let instance: Int64 = row["id"]
                try db.execute(sql: "DELETE FROM derivation_job WHERE instance_ref = ?", arguments: [instance])
                try db.execute(sql: "DELETE FROM stored_file WHERE instance_ref = ?", arguments: [instance])
                try db.execute(sql: "DELETE FROM instance WHERE id = ?", arguments: [instance])
                // Parents the instance brought are removed with it; a study someone already worked on stays.
                try db.execute(sql: "DELETE FROM series WHERE id = ? AND NOT EXISTS (SELECT 1 FROM instance WHERE series_ref = ?)",
                               arguments: [row["series_ref"] as Int64, row["series_ref"] as Int64])
                try db.execute(sql: """
                    DELETE FROM study WHERE id = ? AND NOT EXISTS (SELECT 1 FROM series WHERE study_ref = ?)
                      AND NOT EXISTS (SELECT 1 FROM status_change WHERE study_ref = ?) AND NOT EXISTS (SELECT 1 FROM diagnostic WHERE study_ref = ?)
                    """, arguments: StatementArguments(Array(repeating: row["study_ref"] as Int64, count: 4)))
                try db.execute(sql: "DELETE FROM patient WHERE id = ? AND NOT EXISTS (SELECT 1 FROM study WHERE patient_ref = ?)",
                               arguments: [row["patient_ref"] as Int64, row["patient_ref"] as Int64])
            }
        }
    }

    /// A write transaction whose commit does not wait for the disk (synchronous NORMAL: still atomic, and the WAL
    /// keeps the database consistent after a power cut); the caller flushes the file system holding `folder`.
    private func withoutFlush<T>(_ body: (Database) throws -> T) throws -> T {
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            defer { try? db.execute(sql: "PRAGMA synchronous = FULL") }
            var result: T?
            try db.inTransaction {
                result = try body(db)
                return .commit
            }
            return result!
        }
    }

    private static let frameCoder = (JSONEncoder(), JSONDecoder())

    private static func insert(_ db: Database, _ file: StoredFile, instance: Int64, now: Double) throws {
        let frames = try file.frames.map { String(decoding: try frameCoder.0.encode($0), as: UTF8.self) }
        try db.cachedStatement(sql: """
            INSERT INTO stored_file (instance_ref, version, variant, tier, path, size, sha256, transfer_syntax, created_at,
              sop_instance_uid, purpose, quality, target_ratio, achieved_ratio, psnr, max_error, frames, header_length)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [instance, file.version, file.variant, file.tier, file.path, file.size, file.sha256, file.transferSyntaxUID, now,
                             file.sopInstanceUID, file.purpose, file.quality, file.targetRatio, file.achievedRatio, file.psnr,
                             file.maxError, frames, file.headerLength])
    }

    public func files(sopInstanceUID: String) throws -> [StoredFile] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT f.* FROM stored_file f JOIN instance i ON f.instance_ref = i.id WHERE i.uid = ? ORDER BY f.version, f.variant, f.tier = 'fast' DESC
                """, arguments: [sopInstanceUID]).map(Self.storedFile)
        }
    }

    // MARK: Diagnosis workflow

    public func changeStatus(studyInstanceUID: String, to status: DiagnosisStatus, by user: String, reason: String?,
                             allowBackwards: Bool, now: Double) throws -> StatusChange {
        try pool.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT id, status FROM study WHERE uid = ?", arguments: [studyInstanceUID]) else {
                throw StatusChangeError.noSuchStudy(studyInstanceUID)
            }
            let current = DiagnosisStatus(rawValue: row["status"]) ?? .unread
            guard status != current else { throw StatusChangeError.unchanged(current) }
            if status < current {
                guard allowBackwards else { throw StatusChangeError.backwards(from: current, to: status) }
                guard let reason, !reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw StatusChangeError.reasonRequired }
            }
            let study: Int64 = row["id"]
            try db.execute(sql: "UPDATE study SET status = ? WHERE id = ?", arguments: [status.rawValue, study])
            try db.execute(sql: "INSERT INTO status_change (study_ref, from_status, to_status, user, reason, at) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [study, current.rawValue, status.rawValue, user, reason, now])
            return StatusChange(from: current.rawValue, to: status.rawValue, user: user, reason: reason, at: now)
        }
    }

    public func status(studyInstanceUID: String) throws -> Int? {
        // Asked on every retrieval (the access gate): one statement needs no transaction, and stays prepared.
        try pool.unsafeRead { db in
            try Int.fetchOne(db.cachedStatement(sql: "SELECT status FROM study WHERE uid = ?"), arguments: [studyInstanceUID])
        }
    }

    public func statusHistory(studyInstanceUID: String) throws -> [StatusChange] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT c.* FROM status_change c JOIN study s ON c.study_ref = s.id WHERE s.uid = ? ORDER BY c.id
                """, arguments: [studyInstanceUID]).map {
                StatusChange(from: $0["from_status"], to: $0["to_status"], user: $0["user"], reason: $0["reason"], at: $0["at"])
            }
        }
    }

    // MARK: Derivation queue

    public func claimDerivation(owner: String, now: Double) throws -> DerivationJob? {
        try pool.write { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT j.instance_ref, j.attempts, i.uid FROM derivation_job j JOIN instance i ON j.instance_ref = i.id
                WHERE j.state = 'pending' ORDER BY j.priority DESC, j.updated_at, j.instance_ref LIMIT 1
                """) else { return nil }
            try db.execute(sql: "UPDATE derivation_job SET state = 'running', owner = ?, attempts = attempts + 1, updated_at = ? WHERE instance_ref = ?",
                           arguments: [owner, now, row["instance_ref"] as Int64])
            return DerivationJob(sopInstanceUID: row["uid"], attempts: (row["attempts"] as Int) + 1)
        }
    }

    public func completeDerivation(_ job: DerivationJob, files: [StoredFile], missing: [String: String], now: Double) throws {
        let missingText = missing.isEmpty ? nil : String(decoding: try Self.frameCoder.0.encode(missing), as: UTF8.self)
        try pool.write { db in
            guard let instance = try Int64.fetchOne(db, sql: "SELECT id FROM instance WHERE uid = ?", arguments: [job.sopInstanceUID]) else { return }
            for file in files {
                try db.execute(sql: "DELETE FROM stored_file WHERE instance_ref = ? AND version = ? AND variant = ? AND tier = ?",
                               arguments: [instance, file.version, file.variant, file.tier])
                try Self.insert(db, file, instance: instance, now: now)
            }
            try db.execute(sql: "UPDATE derivation_job SET state = 'done', owner = NULL, missing = ?, updated_at = ? WHERE instance_ref = ?",
                           arguments: [missingText, now, instance])
        }
    }

    public func deferDerivation(_ job: DerivationJob, countingAttempt: Bool, now: Double) throws {
        try pool.write { db in
            try db.execute(sql: """
                UPDATE derivation_job SET state = 'pending', owner = NULL, updated_at = ?, attempts = attempts - ?
                WHERE instance_ref = (SELECT id FROM instance WHERE uid = ?)
                """, arguments: [now, countingAttempt ? 0 : 1, job.sopInstanceUID])
        }
    }

    public func releaseAbandonedDerivations(isAlive: (String) -> Bool) throws -> Int {
        try pool.write { db in
            let owners = try String.fetchAll(db, sql: "SELECT DISTINCT owner FROM derivation_job WHERE state = 'running' AND owner IS NOT NULL")
            var released = 0
            for owner in owners where !isAlive(owner) {
                // The process died, not the job (codec work runs in worker processes): the try is not counted.
                try db.execute(sql: """
                    UPDATE derivation_job SET state = 'pending', owner = NULL, attempts = MAX(attempts - 1, 0)
                    WHERE state = 'running' AND owner = ?
                    """, arguments: [owner])
                released += db.changesCount
            }
            return released
        }
    }

    public func prioritizeDerivation(sopInstanceUID: String) throws {
        try pool.write { db in
            try db.execute(sql: """
                UPDATE derivation_job SET priority = (SELECT COALESCE(MAX(priority), 0) + 1 FROM derivation_job)
                WHERE state = 'pending' AND instance_ref = (SELECT id FROM instance WHERE uid = ?)
                """, arguments: [sopInstanceUID])
        }
    }

    public func requeueDerivations(matching query: IndexQuery, now: Double) throws -> Int {
        let filter = Filter(query)
        return try pool.write { db in
            try db.execute(sql: """
                UPDATE derivation_job SET state = 'pending', owner = NULL, attempts = 0, updated_at = ?
                WHERE state = 'done' AND instance_ref IN (
                  SELECT i.id FROM instance i JOIN series se ON i.series_ref = se.id JOIN study s ON se.study_ref = s.id
                    JOIN patient p ON s.patient_ref = p.id WHERE \(filter.instanceConditions))
                """, arguments: StatementArguments([now]) + filter.instanceArguments)
            return db.changesCount
        }
    }

    public func derivationCounts() throws -> DerivationCounts {
        try pool.read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM derivation_job GROUP BY state")
            var counts = DerivationCounts(pending: 0, running: 0, done: 0)
            for row in rows {
                switch row["state"] as String {
                case "pending": counts.pending = row["n"]
                case "running": counts.running = row["n"]
                default: counts.done += row["n"] as Int
                }
            }
            return counts
        }
    }

    public func derivation(sopInstanceUID: String) throws -> DerivationStatus {
        try pool.read { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT j.state, j.missing FROM derivation_job j JOIN instance i ON j.instance_ref = i.id WHERE i.uid = ?
                """, arguments: [sopInstanceUID]) else { return DerivationStatus(state: "done", missing: [:]) }
            let missing = (row["missing"] as String?).flatMap { try? Self.frameCoder.1.decode([String: String].self, from: Data($0.utf8)) }
            return DerivationStatus(state: row["state"], missing: missing ?? [:])
        }
    }

    private static func patientRef(_ db: Database, _ a: IndexedAttributes) throws -> Int64 {
        if let id = try Int64.fetchOne(db.cachedStatement(sql: "SELECT id FROM patient WHERE patient_id = ? AND issuer = ?"),
                                       arguments: [a.patientID, a.issuerOfPatientID]) {
            return id
        }
        try db.cachedStatement(sql: "INSERT INTO patient (patient_id, issuer, name, name_key, birth_date, sex) VALUES (?, ?, ?, ?, ?, ?)")
            .execute(arguments: [a.patientID, a.issuerOfPatientID, a.patientName, a.patientName.uppercased(), a.patientBirthDate, a.patientSex])
        return db.lastInsertedRowID
    }

    private static func studyRef(_ db: Database, _ a: IndexedAttributes, patient: Int64, receivedAt: Double) throws -> Int64 {
        if let id = try Int64.fetchOne(db.cachedStatement(sql: "SELECT id FROM study WHERE uid = ?"), arguments: [a.studyInstanceUID]) { return id }
        try db.cachedStatement(sql: """
            INSERT INTO study (uid, patient_ref, date, time, accession, description, referring_physician, study_id, received_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [a.studyInstanceUID, patient, a.studyDate, a.studyTime, a.accessionNumber, a.studyDescription,
                             a.referringPhysicianName, a.studyID, receivedAt])
        return db.lastInsertedRowID
    }

    private static func seriesRef(_ db: Database, _ a: IndexedAttributes, study: Int64, receivedAt: Double) throws -> Int64 {
        if let id = try Int64.fetchOne(db.cachedStatement(sql: "SELECT id FROM series WHERE uid = ?"), arguments: [a.seriesInstanceUID]) { return id }
        try db.cachedStatement(sql: """
            INSERT INTO series (uid, study_ref, modality, number, description, body_part, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [a.seriesInstanceUID, study, a.modality, a.seriesNumber, a.seriesDescription, a.bodyPartExamined, receivedAt])
        return db.lastInsertedRowID
    }

    public func original(sopInstanceUID: String) throws -> StoredFile? {
        // Asked for every received image: one statement needs no transaction, and stays prepared.
        try pool.unsafeRead { db in try Self.original(db, sopInstanceUID: sopInstanceUID) }
    }

    private static func original(_ db: Database, sopInstanceUID: String) throws -> StoredFile? {
        try Row.fetchOne(db.cachedStatement(sql: """
            SELECT f.* FROM stored_file f JOIN instance i ON f.instance_ref = i.id
            WHERE i.uid = ? AND f.variant = 'original' ORDER BY f.tier = 'fast' DESC LIMIT 1
            """), arguments: [sopInstanceUID]).map(storedFile)
    }

    public func patients(matching query: IndexQuery) throws -> [PatientSummary] {
        let filter = Filter(query)
        return try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT p.patient_id, p.name, p.birth_date, p.sex,
                  (SELECT COUNT(*) FROM study s WHERE s.patient_ref = p.id) AS study_count,
                  (SELECT COUNT(*) FROM series se JOIN study s ON se.study_ref = s.id WHERE s.patient_ref = p.id) AS series_count,
                  (SELECT COUNT(*) FROM instance i JOIN series se ON i.series_ref = se.id JOIN study s ON se.study_ref = s.id
                    WHERE s.patient_ref = p.id) AS instance_count
                FROM patient p
                WHERE p.id IN (SELECT s.patient_ref FROM study s JOIN patient p ON s.patient_ref = p.id WHERE \(filter.studyConditions))
                ORDER BY p.patient_id, p.id
                \(filter.page)
                """, arguments: filter.studyArguments).map { row in
                PatientSummary(patientID: row["patient_id"], patientName: row["name"], patientBirthDate: row["birth_date"],
                               patientSex: row["sex"], studyCount: row["study_count"], seriesCount: row["series_count"],
                               instanceCount: row["instance_count"])
            }
        }
    }

    public func studies(matching query: IndexQuery) throws -> [StudySummary] {
        let filter = Filter(query)
        return try pool.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT s.id, s.uid, s.date, s.time, s.accession, s.description, s.referring_physician, s.study_id, s.status,
                  p.patient_id, p.name, p.birth_date, p.sex,
                  (SELECT COUNT(*) FROM series se WHERE se.study_ref = s.id) AS series_count,
                  (SELECT COUNT(*) FROM instance i JOIN series se ON i.series_ref = se.id WHERE se.study_ref = s.id) AS instance_count
                FROM study s JOIN patient p ON s.patient_ref = p.id
                WHERE \(filter.studyConditions)
                ORDER BY s.date DESC, s.time DESC, s.id
                \(filter.page)
                """, arguments: filter.studyArguments)
            let modalities = try Self.modalities(db, studies: rows.map { $0["id"] as Int64 })
            return rows.map { row in
                StudySummary(studyInstanceUID: row["uid"], patientID: row["patient_id"], patientName: row["name"],
                             patientBirthDate: row["birth_date"], patientSex: row["sex"],
                             studyDate: row["date"], studyTime: row["time"], accessionNumber: row["accession"],
                             studyDescription: row["description"], referringPhysicianName: row["referring_physician"],
                             studyID: row["study_id"], status: row["status"], modalities: modalities[row["id"]] ?? [],
                             seriesCount: row["series_count"], instanceCount: row["instance_count"])
            }
        }
    }

    private static func modalities(_ db: Database, studies: [Int64]) throws -> [Int64: [String]] {
        guard !studies.isEmpty else { return [:] }
        let marks = Array(repeating: "?", count: studies.count).joined(separator: ",")
        var result: [Int64: [String]] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT DISTINCT study_ref, modality FROM series WHERE study_ref IN (\(marks)) ORDER BY modality",
                                    arguments: StatementArguments(studies)) {
            result[row["study_ref"], default: []].append(row["modality"])
        }
        return result
    }

    public func series(matching query: IndexQuery) throws -> [SeriesSummary] {
        let filter = Filter(query)
        return try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT se.uid, s.uid AS study_uid, se.modality, se.number, se.description, se.body_part,
                  (SELECT COUNT(*) FROM instance i WHERE i.series_ref = se.id) AS instance_count
                FROM series se JOIN study s ON se.study_ref = s.id JOIN patient p ON s.patient_ref = p.id
                WHERE \(filter.seriesConditions)
                ORDER BY s.uid, se.number, se.id
                \(filter.page)
                """, arguments: filter.seriesArguments).map { row in
                SeriesSummary(seriesInstanceUID: row["uid"], studyInstanceUID: row["study_uid"], modality: row["modality"],
                              seriesNumber: row["number"], seriesDescription: row["description"], bodyPartExamined: row["body_part"],
                              instanceCount: row["instance_count"])
            }
        }
    }

    public func instances(matching query: IndexQuery) throws -> [InstanceSummary] {
        let filter = Filter(query)
        return try pool.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT i.id, i.uid, i.sop_class_uid, i.number, i.rows, i.columns, i.frames, se.uid AS series_uid, s.uid AS study_uid
                FROM instance i JOIN series se ON i.series_ref = se.id JOIN study s ON se.study_ref = s.id
                  JOIN patient p ON s.patient_ref = p.id
                WHERE \(filter.instanceConditions)
                ORDER BY s.uid, se.number, se.id, i.number, i.id
                \(filter.page)
                """, arguments: filter.instanceArguments)
            var files: [Int64: [StoredFile]] = [:]
            let ids = rows.map { $0["id"] as Int64 }
            for chunk in stride(from: 0, to: ids.count, by: 500).map({ Array(ids[$0..<min($0 + 500, ids.count)]) }) {
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ",")
                for row in try Row.fetchAll(db, sql: "SELECT * FROM stored_file WHERE instance_ref IN (\(marks)) ORDER BY version, variant, tier = 'fast' DESC",
                                            arguments: StatementArguments(chunk)) {
                    files[row["instance_ref"], default: []].append(Self.storedFile(row))
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
            try Row.fetchAll(db, sql: """
                SELECT f.*, i.uid FROM stored_file f JOIN instance i ON f.instance_ref = i.id WHERE f.tier = ? ORDER BY f.path
                """, arguments: [tier]).map { IndexedFile(sopInstanceUID: $0["uid"], file: Self.storedFile($0)) }
        }
    }

    public func storedFile(tier: String, path: String) throws -> IndexedFile? {
        try pool.read { db in
            try Row.fetchOne(db, sql: """
                SELECT f.*, i.uid FROM stored_file f JOIN instance i ON f.instance_ref = i.id WHERE f.tier = ? AND f.path = ?
                """, arguments: [tier, path]).map { IndexedFile(sopInstanceUID: $0["uid"], file: Self.storedFile($0)) }
        }
    }

    private static func storedFile(_ row: Row) -> StoredFile {
        let frames = (row["frames"] as String?).flatMap { try? frameCoder.1.decode([FrameLayout].self, from: Data($0.utf8)) }
        return StoredFile(version: row["version"], variant: row["variant"], tier: row["tier"], path: row["path"],
                          size: row["size"], sha256: row["sha256"], transferSyntaxUID: row["transfer_syntax"],
                          sopInstanceUID: row["sop_instance_uid"], purpose: row["purpose"], quality: row["quality"],
                          targetRatio: row["target_ratio"], achievedRatio: row["achieved_ratio"], psnr: row["psnr"],
                          maxError: row["max_error"], frames: frames, headerLength: row["header_length"])
    }
}

/// An `IndexQuery` as SQL conditions over the aliases p (patient), s (study), se (series), i (instance).
private struct Filter {
    typealias Condition = (sql: String, arguments: [DatabaseValueConvertible?])

    /// Conditions on patient and study, shared by every level.
    private var common: [Condition] = []
    /// At study level a modality matches when any series has it.
    private var studyOnly: [Condition] = []
    private var series: [Condition] = []
    private var instance: [Condition] = []
    let page: String

    init(_ query: IndexQuery) {
        page = query.limit.map { "LIMIT \(max(0, $0)) OFFSET \(max(0, query.offset))" } ?? (query.offset > 0 ? "LIMIT -1 OFFSET \(query.offset)" : "")
        if let id = query.patientID, !id.isEmpty { common.append(Self.match("p.patient_id", id)) }
        if let name = query.patientName, !name.isEmpty { common.append(Self.match("p.name_key", name.uppercased())) }
        if let accession = query.accessionNumber, !accession.isEmpty { common.append(Self.match("s.accession", accession)) }
        if let range = query.studyDate, !range.isEmpty { common.append(Self.dateRange("s.date", range)) }
        if !query.studyInstanceUIDs.isEmpty { common.append(Self.list("s.uid", query.studyInstanceUIDs)) }
        if let modality = query.modality, !modality.isEmpty {
            let condition = Self.match("se.modality", modality)
            studyOnly.append(("EXISTS (SELECT 1 FROM series se WHERE se.study_ref = s.id AND \(condition.sql))", condition.arguments))
            series.append(condition)
        }
        if !query.seriesInstanceUIDs.isEmpty { series.append(Self.list("se.uid", query.seriesInstanceUIDs)) }
        if !query.sopInstanceUIDs.isEmpty { instance.append(Self.list("i.uid", query.sopInstanceUIDs)) }
    }

    var studyConditions: String { Self.sql(common + studyOnly) }
    var studyArguments: StatementArguments { Self.arguments(common + studyOnly) }
    var seriesConditions: String { Self.sql(common + series) }
    var seriesArguments: StatementArguments { Self.arguments(common + series) }
    var instanceConditions: String { Self.sql(common + series + instance) }
    var instanceArguments: StatementArguments { Self.arguments(common + series + instance) }

    /// Single-value or wildcard matching (PS3.4 C.2.2.2.1, C.2.2.2.4): `*` any run, `?` any one character.
    private static func match(_ column: String, _ value: String) -> Condition {
        guard value.contains("*") || value.contains("?") else { return ("\(column) = ?", [value]) }
        var pattern = ""
        for character in value {
            switch character {
            case "*": pattern += "%"
            case "?": pattern += "_"
            case "%", "_", "\\": pattern += "\\\(character)"
            default: pattern.append(character)
            }
        }
        return ("\(column) LIKE ? ESCAPE '\\'", [pattern])
    }

    /// Range matching (PS3.4 C.2.2.2.5) on `YYYYMMDD` text, which orders as dates do.
    private static func dateRange(_ column: String, _ range: String) -> Condition {
        let parts = range.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 else { return ("\(column) = ?", [range]) }
        switch (parts[0].isEmpty, parts[1].isEmpty) {
        case (false, false): return ("\(column) BETWEEN ? AND ?", [parts[0], parts[1]])
        case (false, true): return ("\(column) >= ?", [parts[0]])
        case (true, false): return ("(\(column) <> '' AND \(column) <= ?)", [parts[1]])
        case (true, true): return ("1 = 1", [])
        }
    }

    private static func list(_ column: String, _ values: [String]) -> Condition {
        ("\(column) IN (\(Array(repeating: "?", count: values.count).joined(separator: ",")))", values)
    }

    private static func sql(_ conditions: [Condition]) -> String {
        conditions.isEmpty ? "1 = 1" : conditions.map(\.sql).joined(separator: " AND ")
    }

    private static func arguments(_ conditions: [Condition]) -> StatementArguments {
        StatementArguments(conditions.flatMap(\.arguments))
    }
}
