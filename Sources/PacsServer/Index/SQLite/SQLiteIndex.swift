import Foundation
import GRDB

/// The index in SQLite (WAL, full synchronous commits) through GRDB: the embedded default. Each aggregate's
/// protocol is implemented in its own file (`SQLiteIndex+Instances.swift`, ...); all of them share this database.
/// The SQL is written in the portable subset (no SQLite-only functions), so that another database can follow.
public final class SQLiteIndex: ImageIndex {
    let pool: DatabasePool

    public let folder: URL?

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

    /// A write transaction whose commit does not wait for the disk (synchronous NORMAL: still atomic, and the WAL
    /// keeps the database consistent after a power cut); the caller flushes the file system holding `folder`.
    func withoutFlush<T>(_ body: (Database) throws -> T) throws -> T {
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
}

extension Database {
    /// Runs an interpolated statement through the connection's cache of prepared statements: for the hot paths
    /// (every ingest), where the same statement runs again and again.
    func executeCached(_ literal: SQL) throws {
        let (sql, arguments) = try literal.build(self)
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }

    /// A value fetched by an interpolated statement kept prepared (see `executeCached`).
    func fetchCached<Value: DatabaseValueConvertible & StatementColumnConvertible>(_: Value.Type, _ literal: SQL) throws -> Value? {
        let (sql, arguments) = try literal.build(self)
        return try Value.fetchOne(cachedStatement(sql: sql), arguments: arguments)
    }
}
