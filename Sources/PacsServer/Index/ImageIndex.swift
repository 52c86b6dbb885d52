import Tiering

/// The index, as the server uses it: every aggregate's protocol, filled by one database (SQLite here, in
/// `SQLite/`). Callers that need one aggregate take that protocol.
///
/// The protocols are synchronous. Their callers are the blocking threads of ingest (which block on fsync anyway),
/// derivation and the tier mover, and HTTP handlers through the blocking pool: never an event loop. A database
/// across the network blocks those threads the same way its disk-bound peer does, so the same seam serves both.
public protocol ImageIndex: InstanceIndex, DiagnosisIndex, DerivationQueue, ConflictRecords, TierCatalog {}
