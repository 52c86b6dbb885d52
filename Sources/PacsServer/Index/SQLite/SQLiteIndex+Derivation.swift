import Foundation
import GRDB

/// The derivation queue (`DerivationQueue`): a `derivation_job` row per instance, claimed in one write transaction
/// at a time (SQLite has one writer), so two owners never take the same job.
extension SQLiteIndex {
    private static let missingCoder = (JSONEncoder(), JSONDecoder())

    public func claimDerivation(owner: String, now: Double) throws -> DerivationJob? {
        try pool.write { db in
            guard let row = try SQLRequest<Row>("""
                SELECT j.instance_ref, j.attempts, i.uid FROM derivation_job j JOIN instance i ON j.instance_ref = i.id
                WHERE j.state = 'pending' ORDER BY j.priority DESC, j.updated_at, j.instance_ref LIMIT 1
                """).fetchOne(db) else { return nil }
            let instance: Int64 = row["instance_ref"]
            try db.execute(literal: """
                UPDATE derivation_job SET state = 'running', owner = \(owner), attempts = attempts + 1, updated_at = \(now)
                WHERE instance_ref = \(instance)
                """)
            return DerivationJob(sopInstanceUID: row["uid"], attempts: (row["attempts"] as Int) + 1)
        }
    }

    public func completeDerivation(_ job: DerivationJob, files: [StoredFile], missing: [String: String], now: Double) throws {
        let missingText = missing.isEmpty ? nil : String(decoding: try Self.missingCoder.0.encode(missing), as: UTF8.self)
        try pool.write { db in
            guard let instance = try SQLRequest<Int64>("SELECT id FROM instance WHERE uid = \(job.sopInstanceUID)").fetchOne(db) else { return }
            for file in files {
                try db.execute(literal: """
                    DELETE FROM stored_file WHERE instance_ref = \(instance) AND version = \(file.version) AND variant = \(file.variant)
                      AND tier = \(file.tier)
                    """)
                try file.insert(db, instance: instance, now: now)
            }
            try db.execute(literal: """
                UPDATE derivation_job SET state = 'done', owner = NULL, missing = \(missingText), updated_at = \(now) WHERE instance_ref = \(instance)
                """)
        }
    }

    public func deferDerivation(_ job: DerivationJob, countingAttempt: Bool, now: Double) throws {
        try pool.write { db in
            try db.execute(literal: """
                UPDATE derivation_job SET state = 'pending', owner = NULL, priority = 0, updated_at = \(now),
                  attempts = attempts - \(countingAttempt ? 0 : 1)
                WHERE instance_ref = (SELECT id FROM instance WHERE uid = \(job.sopInstanceUID))
                """)
        }
    }

    public func releaseAbandonedDerivations(isAlive: (String) -> Bool) throws -> Int {
        try pool.write { db in
            let owners = try SQLRequest<String>("SELECT DISTINCT owner FROM derivation_job WHERE state = 'running' AND owner IS NOT NULL").fetchAll(db)
            var released = 0
            for owner in owners where !isAlive(owner) {
                // The process died, not the job (codec work runs in worker processes): the try is not counted.
                try db.execute(literal: """
                    UPDATE derivation_job SET state = 'pending', owner = NULL, attempts = MAX(attempts - 1, 0)
                    WHERE state = 'running' AND owner = \(owner)
                    """)
                released += db.changesCount
            }
            return released
        }
    }

    public func prioritizeDerivation(sopInstanceUID: String) throws {
        try pool.write { db in
            try db.execute(literal: """
                UPDATE derivation_job SET priority = (SELECT COALESCE(MAX(priority), 0) + 1 FROM derivation_job)
                WHERE state = 'pending' AND instance_ref = (SELECT id FROM instance WHERE uid = \(sopInstanceUID))
                """)
        }
    }

    public func requeueDerivations(matching query: IndexQuery, now: Double) throws -> Int {
        let filter = IndexFilter(query)
        return try pool.write { db in
            try db.execute(literal: """
                UPDATE derivation_job SET state = 'pending', owner = NULL, attempts = 0, updated_at = \(now)
                WHERE state = 'done' AND instance_ref IN (
                  SELECT i.id FROM instance i JOIN series se ON i.series_ref = se.id JOIN study s ON se.study_ref = s.id
                    JOIN patient p ON s.patient_ref = p.id WHERE \(filter.instanceConditions))
                """)
            return db.changesCount
        }
    }

    public func derivationCounts() throws -> DerivationCounts {
        try pool.read { db in
            var counts = DerivationCounts(pending: 0, running: 0, done: 0)
            for row in try SQLRequest<Row>("SELECT state, COUNT(*) AS n FROM derivation_job GROUP BY state").fetchAll(db) {
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
            guard let row = try SQLRequest<Row>("""
                SELECT j.state, j.missing FROM derivation_job j JOIN instance i ON j.instance_ref = i.id WHERE i.uid = \(sopInstanceUID)
                """).fetchOne(db) else { return DerivationStatus(state: "done", missing: [:]) }
            let missing = (row["missing"] as String?).flatMap { try? Self.missingCoder.1.decode([String: String].self, from: Data($0.utf8)) }
            return DerivationStatus(state: row["state"], missing: missing ?? [:])
        }
    }
}
