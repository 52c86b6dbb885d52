import GRDB

/// The index schema, one migration per shipped change, in order. Never edit a shipped migration: add one.
enum IndexSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: patients, studies, series, instances, stored files, derivation jobs") { db in
            try db.create(table: "patient") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("patient_id", .text).notNull()
                t.column("issuer", .text).notNull()
                t.column("name", .text).notNull()
                /// Upper-cased name for case-insensitive wildcard matching.
                t.column("name_key", .text).notNull()
                t.column("birth_date", .text).notNull()
                t.column("sex", .text).notNull()
                t.uniqueKey(["patient_id", "issuer"])
            }
            try db.create(index: "patient_name_key", on: "patient", columns: ["name_key"])

            try db.create(table: "study") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("uid", .text).notNull().unique()
                t.column("patient_ref", .integer).notNull().references("patient")
                t.column("date", .text).notNull()
                t.column("time", .text).notNull()
                t.column("accession", .text).notNull()
                t.column("description", .text).notNull()
                t.column("referring_physician", .text).notNull()
                t.column("study_id", .text).notNull()
                t.column("status", .integer).notNull().defaults(to: 1)
                t.column("received_at", .double).notNull()
            }
            try db.create(index: "study_patient", on: "study", columns: ["patient_ref"])
            try db.create(index: "study_date", on: "study", columns: ["date"])
            try db.create(index: "study_accession", on: "study", columns: ["accession"])

            try db.create(table: "series") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("uid", .text).notNull().unique()
                t.column("study_ref", .integer).notNull().references("study")
                t.column("modality", .text).notNull()
                t.column("number", .integer)
                t.column("description", .text).notNull()
                t.column("body_part", .text).notNull()
                t.column("received_at", .double).notNull()
            }
            try db.create(index: "series_study", on: "series", columns: ["study_ref"])
            try db.create(index: "series_modality", on: "series", columns: ["modality"])

            try db.create(table: "instance") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("uid", .text).notNull().unique()
                t.column("series_ref", .integer).notNull().references("series")
                t.column("sop_class_uid", .text).notNull()
                t.column("number", .integer)
                t.column("rows", .integer)
                t.column("columns", .integer)
                t.column("frames", .integer).notNull()
                t.column("received_at", .double).notNull()
            }
            try db.create(index: "instance_series", on: "instance", columns: ["series_ref"])

            try db.create(table: "stored_file") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("instance_ref", .integer).notNull().references("instance")
                t.column("version", .text).notNull()
                t.column("variant", .text).notNull()
                t.column("tier", .text).notNull()
                t.column("path", .text).notNull()
                t.column("size", .integer).notNull()
                t.column("sha256", .text).notNull()
                t.column("transfer_syntax", .text).notNull()
                t.column("created_at", .double).notNull()
                // Derived versions: their own SOP Instance UID (lossy ones), what they are for, how close.
                t.column("sop_instance_uid", .text)
                t.column("purpose", .text)
                t.column("quality", .integer)
                t.column("target_ratio", .double)
                t.column("achieved_ratio", .double)
                t.column("psnr", .double)
                t.column("max_error", .integer)
                /// JSON: per frame, its data's (or codestream's) offset and length in the file, and its level index.
                t.column("frames", .text)
                /// Bytes before the Pixel Data element: the header WADO metadata reads without the pixels.
                t.column("header_length", .integer)
                t.uniqueKey(["instance_ref", "version", "variant", "tier"])
                t.uniqueKey(["tier", "path"])
            }

            // Every change of a study's diagnosis status: who, when, from what, to what, and why.
            try db.create(table: "status_change") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("study_ref", .integer).notNull().references("study")
                t.column("from_status", .integer).notNull()
                t.column("to_status", .integer).notNull()
                t.column("user", .text).notNull()
                t.column("reason", .text)
                t.column("at", .double).notNull()
            }
            try db.create(index: "status_change_study", on: "status_change", columns: ["study_ref"])

            // One job per instance: derive its versions. `missing` (JSON) says which could not be made and why.
            try db.create(table: "derivation_job") { t in
                t.primaryKey("instance_ref", .integer).references("instance")
                t.column("priority", .integer).notNull().defaults(to: 0)
                t.column("state", .text).notNull()
                t.column("owner", .text)
                t.column("attempts", .integer).notNull().defaults(to: 0)
                t.column("missing", .text)
                t.column("updated_at", .double).notNull()
            }
            try db.create(index: "derivation_job_state", on: "derivation_job", columns: ["state", "priority"])
        }
        migrator.registerMigration("v2: diagnostic information (notes, annotations, report), versioned") { db in
            // One row per revision of an item; the latest revision of each item is its current content.
            try db.create(table: "diagnostic") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("study_ref", .integer).notNull().references("study")
                t.column("item", .text).notNull()
                t.column("kind", .text).notNull()
                t.column("revision", .integer).notNull()
                t.column("sop_instance_uid", .text)
                t.column("frame", .integer)
                t.column("body", .text)
                t.column("author", .text).notNull()
                t.column("at", .double).notNull()
                t.uniqueKey(["study_ref", "item", "revision"])
            }
        }
        migrator.registerMigration("v3: tiering journal, events, prefetches; recalled copies expire; scrub dates") { db in
            try db.alter(table: "stored_file") { t in
                /// A recalled fast copy is dropped after this time (seconds since 1970); nil for copies that stay.
                t.add(column: "expires_at", .double)
                /// When the scrub last re-hashed this copy.
                t.add(column: "verified_at", .double)
            }
            // The mover's journal: one row per step in flight, written before it starts, removed when done.
            try db.create(table: "tier_transfer") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("instance_ref", .integer).notNull()
                t.column("version", .text).notNull()
                t.column("variant", .text).notNull()
                t.column("path", .text).notNull()
                t.column("sha256", .text).notNull()
                t.column("size", .integer).notNull()
                t.column("kind", .text).notNull()
                t.column("source", .text).notNull()
                t.column("destination", .text).notNull()
                t.column("expires_at", .double)
                t.column("reason", .text).notNull()
                t.column("state", .text).notNull()
            }
            try db.create(table: "tier_event") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("kind", .text).notNull()
                t.column("bytes", .integer).notNull()
                t.column("seconds", .double).notNull()
                t.column("at", .double).notNull()
                t.column("detail", .text).notNull()
            }
            try db.create(index: "tier_event_at", on: "tier_event", columns: ["at"])
            try db.create(table: "prefetch") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("patient_id", .text).notNull()
                t.column("scheduled_at", .double).notNull()
                t.column("requested_by", .text).notNull()
                t.column("done_at", .double)
            }
        }
        migrator.registerMigration("v4: objects held aside as conflicts") { db in
            try db.execute(sql: """
                CREATE TABLE held_conflict (
                    id INTEGER PRIMARY KEY,
                    sop_instance_uid TEXT NOT NULL,
                    received_at REAL NOT NULL,
                    source TEXT NOT NULL,
                    difference TEXT NOT NULL,
                    file TEXT NOT NULL,
                    size INTEGER NOT NULL,
                    sha256 TEXT NOT NULL UNIQUE
                );
                CREATE INDEX held_conflict_sop ON held_conflict (sop_instance_uid);
                """)
        }
        return migrator
    }
}
