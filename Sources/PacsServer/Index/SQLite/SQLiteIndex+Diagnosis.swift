import Foundation
import GRDB

/// The reading workflow (`DiagnosisIndex`): each study's status with its history, and the revisions of its notes,
/// annotations and report, which raise the status they stand for.
extension SQLiteIndex {
    public func changeStatus(studyInstanceUID: String, to status: DiagnosisStatus, by user: String, reason: String?,
                             allowBackwards: Bool, now: Double) throws -> StatusChange {
        try pool.write { db in
            guard let row = try SQLRequest<Row>("SELECT id, status FROM study WHERE uid = \(studyInstanceUID)").fetchOne(db) else {
                throw StatusChangeError.noSuchStudy(studyInstanceUID)
            }
            let current = try Self.status(row["status"], study: studyInstanceUID)
            guard status != current else { throw StatusChangeError.unchanged(current) }
            if status < current {
                guard allowBackwards else { throw StatusChangeError.backwards(from: current, to: status) }
                guard let reason, !reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw StatusChangeError.reasonRequired }
            }
            let change = StatusChange(from: current.rawValue, to: status.rawValue, user: user, reason: reason, at: now)
            try Self.record(change, study: row["id"], db)
            return change
        }
    }

    public func status(studyInstanceUID: String) throws -> DiagnosisStatus? {
        // Asked on every retrieval (the access gate): one statement needs no transaction, and stays prepared.
        try pool.unsafeRead { db in
            try db.fetchCached(Int.self, "SELECT status FROM study WHERE uid = \(studyInstanceUID)").map {
                try Self.status($0, study: studyInstanceUID)
            }
        }
    }

    public func statusHistory(studyInstanceUID: String) throws -> [StatusChange] {
        try pool.read { db in
            try SQLRequest<StatusChange>("""
                SELECT c.* FROM status_change c JOIN study s ON c.study_ref = s.id WHERE s.uid = \(studyInstanceUID) ORDER BY c.id
                """).fetchAll(db)
        }
    }

    public func addDiagnostic(_ entry: DiagnosticEntry, studyInstanceUID: String) throws -> DiagnosticEntry {
        try pool.write { db in
            guard let study = try SQLRequest<Row>("SELECT id, status FROM study WHERE uid = \(studyInstanceUID)").fetchOne(db) else {
                throw DiagnosticError.noSuchStudy(studyInstanceUID)
            }
            let studyRef: Int64 = study["id"]
            var recorded = entry
            if entry.item.isEmpty {
                recorded.item = entry.kind == .report ? "report" : UUID().uuidString.lowercased()
            }
            if let latest = try SQLRequest<DiagnosticEntry>("""
                SELECT * FROM diagnostic WHERE study_ref = \(studyRef) AND item = \(recorded.item) ORDER BY revision DESC LIMIT 1
                """).fetchOne(db) {
                guard latest.kind == entry.kind else { throw DiagnosticError.kindMismatch(item: recorded.item, is: latest.kind) }
                recorded.revision = latest.revision + 1
                // A revision of an annotation stays on its image unless it names another.
                recorded.sopInstanceUID = entry.sopInstanceUID ?? latest.sopInstanceUID
                recorded.frame = entry.frame ?? latest.frame
            } else {
                guard entry.item.isEmpty || entry.kind == .report else { throw DiagnosticError.noSuchItem(entry.item) }
                recorded.revision = 1
            }
            if let sop = recorded.sopInstanceUID {
                let inStudy = try SQLRequest<Bool>("""
                    SELECT 1 FROM instance i JOIN series s ON i.series_ref = s.id WHERE i.uid = \(sop) AND s.study_ref = \(studyRef)
                    """).fetchOne(db) ?? false
                guard inStudy else { throw DiagnosticError.instanceNotInStudy(sop) }
            }
            try db.execute(literal: """
                INSERT INTO diagnostic (study_ref, item, kind, revision, sop_instance_uid, frame, body, author, at)
                VALUES (\(studyRef), \(recorded.item), \(recorded.kind.rawValue), \(recorded.revision), \(recorded.sopInstanceUID),
                  \(recorded.frame), \(recorded.body), \(recorded.author), \(recorded.at))
                """)
            let current = try Self.status(study["status"], study: studyInstanceUID)
            if recorded.body != nil, current < entry.kind.status {
                let change = StatusChange(from: current.rawValue, to: entry.kind.status.rawValue, user: entry.author,
                                          reason: entry.kind.statusReason, at: entry.at)
                try Self.record(change, study: studyRef, db)
            }
            return recorded
        }
    }

    public func diagnostics(studyInstanceUID: String, history: Bool) throws -> [DiagnosticEntry] {
        try pool.read { db in
            let latestOnly: SQL = history ? "" : """
                AND d.revision = (SELECT MAX(l.revision) FROM diagnostic l WHERE l.study_ref = d.study_ref AND l.item = d.item)
                """
            return try SQLRequest<DiagnosticEntry>("""
                SELECT d.* FROM diagnostic d JOIN study s ON d.study_ref = s.id WHERE s.uid = \(studyInstanceUID) \(latestOnly) ORDER BY d.id
                """).fetchAll(db)
        }
    }

    /// Sets a study's status and records the change.
    private static func record(_ change: StatusChange, study: Int64, _ db: Database) throws {
        try db.execute(literal: "UPDATE study SET status = \(change.to) WHERE id = \(study)")
        try db.execute(literal: """
            INSERT INTO status_change (study_ref, from_status, to_status, user, reason, at)
            VALUES (\(study), \(change.from), \(change.to), \(change.user), \(change.reason), \(change.at))
            """)
    }

    /// A stored status as the workflow's: one that is none of the five is refused, never read as another.
    static func status(_ stored: Int, study: String) throws -> DiagnosisStatus {
        guard let status = DiagnosisStatus(rawValue: stored) else { throw UnreadableStatus(studyInstanceUID: study, stored: stored) }
        return status
    }
}

extension StatusChange: FetchableRecord {
    public init(row: Row) {
        self.init(from: row["from_status"], to: row["to_status"], user: row["user"], reason: row["reason"], at: row["at"])
    }
}

extension DiagnosticEntry: FetchableRecord {
    public init(row: Row) {
        self.init(item: row["item"], kind: DiagnosticKind(rawValue: row["kind"]) ?? .note, revision: row["revision"],
                  sopInstanceUID: row["sop_instance_uid"], frame: row["frame"], body: row["body"], author: row["author"], at: row["at"])
    }
}
