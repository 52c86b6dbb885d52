import Foundation
import GRDB

/// Diagnostic information: revisions of notes, annotations and reports, and the status they raise.
extension SQLiteIndex {
    public func addDiagnostic(_ entry: DiagnosticEntry, studyInstanceUID: String) throws -> DiagnosticEntry {
        try pool.write { db in
            guard let study = try Row.fetchOne(db, sql: "SELECT id, status FROM study WHERE uid = ?", arguments: [studyInstanceUID]) else {
                throw DiagnosticError.noSuchStudy(studyInstanceUID)
            }
            let studyRef: Int64 = study["id"]
            var recorded = entry
            if entry.item.isEmpty {
                recorded.item = entry.kind == .report ? "report" : UUID().uuidString.lowercased()
            }
            let latest = try Row.fetchOne(db, sql: """
                SELECT kind, revision, sop_instance_uid, frame FROM diagnostic WHERE study_ref = ? AND item = ? ORDER BY revision DESC LIMIT 1
                """, arguments: [studyRef, recorded.item])
            if let latest {
                let kind = DiagnosticKind(rawValue: latest["kind"]) ?? .note
                guard kind == entry.kind else { throw DiagnosticError.kindMismatch(item: recorded.item, is: kind) }
                recorded.revision = latest["revision"] + 1
                // A revision of an annotation stays on its image unless it names another.
                recorded.sopInstanceUID = entry.sopInstanceUID ?? latest["sop_instance_uid"]
                recorded.frame = entry.frame ?? latest["frame"]
            } else {
                guard entry.item.isEmpty || entry.kind == .report else { throw DiagnosticError.noSuchItem(entry.item) }
                recorded.revision = 1
            }
            if let sop = recorded.sopInstanceUID {
                let inStudy = try Bool.fetchOne(db, sql: """
                    SELECT 1 FROM instance i JOIN series s ON i.series_ref = s.id WHERE i.uid = ? AND s.study_ref = ?
                    """, arguments: [sop, studyRef]) ?? false
                guard inStudy else { throw DiagnosticError.instanceNotInStudy(sop) }
            }
            try db.execute(sql: """
                INSERT INTO diagnostic (study_ref, item, kind, revision, sop_instance_uid, frame, body, author, at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [studyRef, recorded.item, recorded.kind.rawValue, recorded.revision, recorded.sopInstanceUID,
                                 recorded.frame, recorded.body, recorded.author, recorded.at])
            let current = DiagnosisStatus(rawValue: study["status"]) ?? .unread
            if recorded.body != nil, current < entry.kind.status {
                try db.execute(sql: "UPDATE study SET status = ? WHERE id = ?", arguments: [entry.kind.status.rawValue, studyRef])
                try db.execute(sql: "INSERT INTO status_change (study_ref, from_status, to_status, user, reason, at) VALUES (?, ?, ?, ?, ?, ?)",
                               arguments: [studyRef, current.rawValue, entry.kind.status.rawValue, entry.author, entry.kind.statusReason, entry.at])
            }
            return recorded
        }
    }

    public func diagnostics(studyInstanceUID: String, history: Bool) throws -> [DiagnosticEntry] {
        try pool.read { db in
            let latestOnly = history ? "" : """
                AND d.revision = (SELECT MAX(l.revision) FROM diagnostic l WHERE l.study_ref = d.study_ref AND l.item = d.item)
                """
            return try Row.fetchAll(db, sql: """
                SELECT d.* FROM diagnostic d JOIN study s ON d.study_ref = s.id WHERE s.uid = ? \(latestOnly) ORDER BY d.id
                """, arguments: [studyInstanceUID]).map { row in
                DiagnosticEntry(item: row["item"], kind: DiagnosticKind(rawValue: row["kind"]) ?? .note, revision: row["revision"],
                                sopInstanceUID: row["sop_instance_uid"], frame: row["frame"], body: row["body"], author: row["author"], at: row["at"])
            }
        }
    }
}
