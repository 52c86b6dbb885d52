import Foundation

/// Patients, studies, series and instances with their stored files: what ingest records and every query reads.
public protocol InstanceIndex: Sendable {
    /// The folder holding the index's own files when they are on this machine: a commit that leaves its flush to
    /// the caller (`record`) is durable once the caller has flushed this folder's file system. Nil for a database
    /// elsewhere, whose commits are durable when they return.
    var folder: URL? { get }
    /// Records instances, their originals' files and their derivation jobs, all in one transaction (durable as
    /// `folder` says). An instance already recorded is answered with its stored original instead.
    func record(_ batch: [(attributes: IndexedAttributes, original: StoredFile)], receivedAt: Double) throws -> [RecordOutcome]
    /// Removes instances whose ingest did not finish (their data never reached the disk, so they were never
    /// acknowledged): their rows, and their series, study and patient when nothing else holds them.
    func forget(sopInstanceUIDs: [String]) throws
    /// Every stored file of an instance.
    func files(sopInstanceUID: String) throws -> [StoredFile]
    /// The original file of an instance, if the instance is indexed.
    func original(sopInstanceUID: String) throws -> StoredFile?
    func patients(matching query: IndexQuery) throws -> [PatientSummary]
    func studies(matching query: IndexQuery) throws -> [StudySummary]
    func series(matching query: IndexQuery) throws -> [SeriesSummary]
    func instances(matching query: IndexQuery) throws -> [InstanceSummary]
    /// Every stored file on a tier with the instance it belongs to, for verification.
    func storedFiles(tier: String) throws -> [IndexedFile]
    /// The stored file recorded at a path of a tier.
    func storedFile(tier: String, path: String) throws -> IndexedFile?
}

extension InstanceIndex {
    /// Records one instance, its original's file and its derivation job in one transaction.
    public func record(_ attributes: IndexedAttributes, original: StoredFile, receivedAt: Double) throws -> RecordOutcome {
        try record([(attributes, original)], receivedAt: receivedAt)[0]
    }
}
