import DICOM
import Foundation
import Testing
import Tiering
@testable import PacsServer

/// A database that fills the index's protocols, opened on a folder of its own. A second database (PostgreSQL) adds
/// itself to `all`; every test below then runs against it too.
struct IndexImplementation: Sendable, CustomTestStringConvertible {
    let name: String
    let open: @Sendable (URL) throws -> any ImageIndex

    var testDescription: String { name }

    static let all = [IndexImplementation(name: "SQLite") { try SQLiteIndex(path: $0.appendingPathComponent("index.sqlite").path) }]
}

/// What every index must do, whatever database fills it: written once, run against each implementation.
@Suite("The index's contract, for every database that fills it")
struct IndexConformanceTests {
    // MARK: Ingest

    @Test("recording an instance again keeps the first record and answers it, in one batch or later", arguments: IndexImplementation.all)
    func ingestIsIdempotent(_ implementation: IndexImplementation) throws {
        let index = try implementation.open(Repository.temporaryFolder())
        let attributes = try Self.attributes(patient: "P1", study: "1.2.3", series: "1.2.3.1", sop: "1.2.3.1.1")
        let first = Self.original("1.2.3.1.1", sha: "a"), second = Self.original("1.2.3.1.1", sha: "b")
        #expect(try index.record(attributes, original: first, receivedAt: 1) == .recorded)
        #expect(try index.record(attributes, original: second, receivedAt: 2) == .exists(first))
        let batch = try index.record([(attributes, second), (try Self.attributes(patient: "P1", study: "1.2.3", series: "1.2.3.1", sop: "1.2.3.1.2"),
                                                             Self.original("1.2.3.1.2", sha: "c"))], receivedAt: 3)
        #expect(batch == [.exists(first), .recorded])
        #expect(try index.files(sopInstanceUID: "1.2.3.1.1") == [first])
        #expect(try index.original(sopInstanceUID: "1.2.3.1.1") == first)
        #expect(try index.instances(matching: IndexQuery()).count == 2)
        #expect(try index.derivationCounts() == DerivationCounts(pending: 2, running: 0, done: 0))
    }

    @Test("an instance whose ingest did not finish is forgotten with the series, study and patient only it held", arguments: IndexImplementation.all)
    func forgetting(_ implementation: IndexImplementation) throws {
        let index = try implementation.open(Repository.temporaryFolder())
        _ = try index.record(try Self.attributes(patient: "P1", study: "1.1", series: "1.1.1", sop: "1.1.1.1"), original: Self.original("1.1.1.1"), receivedAt: 1)
        _ = try index.record(try Self.attributes(patient: "P2", study: "2.1", series: "2.1.1", sop: "2.1.1.1"), original: Self.original("2.1.1.1"), receivedAt: 1)
        _ = try index.record(try Self.attributes(patient: "P2", study: "2.1", series: "2.1.1", sop: "2.1.1.2"), original: Self.original("2.1.1.2"), receivedAt: 1)
        try index.forget(sopInstanceUIDs: ["1.1.1.1", "2.1.1.2"])
        #expect(try index.patients(matching: IndexQuery()).map(\.patientID) == ["P2"])
        #expect(try index.studies(matching: IndexQuery()).map(\.studyInstanceUID) == ["2.1"])
        #expect(try index.instances(matching: IndexQuery()).map(\.sopInstanceUID) == ["2.1.1.1"])
        #expect(try index.original(sopInstanceUID: "1.1.1.1") == nil)
        #expect(try index.derivationCounts().pending == 1)
    }

    @Test("an object held aside is listed, found by its hash, held once, and released by its id", arguments: IndexImplementation.all)
    func conflicts(_ implementation: IndexImplementation) throws {
        let index = try implementation.open(Repository.temporaryFolder())
        let conflict = HeldConflict(id: 0, sopInstanceUID: "1.2.3", receivedAt: 5, source: "C-STORE from CT1", difference: "Rows 512 != 256",
                                    file: "ab.dcm", size: 10, sha256: "ab")
        let held = try index.holdConflict(conflict)
        #expect(held.id != 0)
        #expect(try index.holdConflict(conflict) == held)
        #expect(try index.heldConflict(sha256: "ab") == held)
        #expect(try index.heldConflicts() == [held])
        #expect(try index.releaseConflict(id: held.id) == held)
        #expect(try index.releaseConflict(id: held.id) == nil)
        #expect(try index.heldConflicts().isEmpty)
    }

    // MARK: Matching (PS3.4 C.2.2.2), through the one search of C-FIND and QIDO-RS

    struct Key: Sendable {
        var tag: DICOM.Tag, vr: VR, value: String
        init(_ tag: DICOM.Tag, _ vr: VR, _ value: String) { (self.tag, self.vr, self.value) = (tag, vr, value) }
    }

    /// A query key, the level asked, and the SOP Instance UIDs (IMAGE) or Study Instance UIDs (STUDY) it must match.
    struct Rule: Sendable, CustomTestStringConvertible {
        var name: String
        var level: QueryLevel
        var keys: [Key]
        var expected: Set<String>
        var testDescription: String { name }
    }

    static let rules: [Rule] = [
        Rule(name: "universal: an empty key matches every study", level: .study, keys: [Key(.patientName, .PN, "")], expected: ["1", "2", "3"]),
        Rule(name: "single value: Patient ID exactly", level: .study, keys: [Key(.patientID, .LO, "P1")], expected: ["1", "2"]),
        Rule(name: "single value is not a prefix", level: .study, keys: [Key(.patientID, .LO, "P")], expected: []),
        Rule(name: "wildcard * in a name, any case", level: .study, keys: [Key(.patientName, .PN, "doe*")], expected: ["1", "2"]),
        Rule(name: "wildcard ? stands for one character", level: .study, keys: [Key(.patientName, .PN, "?OE^JANE")], expected: ["3"]),
        Rule(name: "wildcards in the middle", level: .study, keys: [Key(.patientName, .PN, "D*E^J?HN")], expected: ["1", "2"]),
        Rule(name: "date: one day", level: .study, keys: [Key(.studyDate, .DA, "20240102")], expected: ["2"]),
        Rule(name: "date range, both ends included", level: .study, keys: [Key(.studyDate, .DA, "20240101-20240102")], expected: ["1", "2"]),
        Rule(name: "date range open at the start", level: .study, keys: [Key(.studyDate, .DA, "-20240101")], expected: ["1"]),
        Rule(name: "date range open at the end", level: .study, keys: [Key(.studyDate, .DA, "20240102-")], expected: ["2", "3"]),
        Rule(name: "UID list matches any of its UIDs", level: .study, keys: [Key(.studyInstanceUID, .UI, "1\\3")], expected: ["1", "3"]),
        Rule(name: "modalities in study match any modality", level: .study, keys: [Key(.modalitiesInStudy, .CS, "MR")], expected: ["2"]),
        Rule(name: "accession number", level: .study, keys: [Key(.accessionNumber, .SH, "A3")], expected: ["3"]),
        Rule(name: "keys combine: name and date", level: .study, keys: [Key(.patientName, .PN, "DOE*"), Key(.studyDate, .DA, "20240102-")],
             expected: ["2"]),
        Rule(name: "image level: a series' instances", level: .image, keys: [Key(.seriesInstanceUID, .UI, "2.2")], expected: ["2.2.1"]),
        Rule(name: "image level: a SOP Instance UID list", level: .image, keys: [Key(.sopInstanceUID, .UI, "1.1.1\\3.1.1")],
             expected: ["1.1.1", "3.1.1"]),
        Rule(name: "image level: modality of the series", level: .image, keys: [Key(.modality, .CS, "MR")], expected: ["2.2.1"]),
    ]

    @Test("each matching rule of C-FIND and QIDO-RS selects exactly its matches",
          arguments: IndexImplementation.all.flatMap { implementation in rules.map { (implementation, $0) } })
    func matching(_ implementation: IndexImplementation, _ rule: Rule) throws {
        let index = try implementation.open(Repository.temporaryFolder())
        // Three studies: DOE^JOHN's CT on Jan 1 and CT and MR on Jan 2, ROE^JANE's CT on Jan 3.
        for (study, patient, name, date, series) in [("1", "P1", "DOE^JOHN", "20240101", [("1.1", "CT")]),
                                                     ("2", "P1", "DOE^JOHN", "20240102", [("2.1", "CT"), ("2.2", "MR")]),
                                                     ("3", "P3", "ROE^JANE", "20240103", [("3.1", "CT")])] {
            for (uid, modality) in series {
                let sop = uid + ".1"
                _ = try index.record(try Self.attributes(patient: patient, name: name, study: study, date: date, accession: "A" + study,
                                                         series: uid, modality: modality, sop: sop), original: Self.original(sop), receivedAt: 1)
            }
        }
        var identifier = DataSet()
        identifier.set(.queryRetrieveLevel, .CS, rule.level == .image ? "IMAGE" : "STUDY")
        identifier.set(rule.level == .image ? .sopInstanceUID : .studyInstanceUID, .UI, "")
        for key in rule.keys { identifier.set(key.tag, key.vr, key.value) }
        let matched = try IdentifierSearch.search(identifier, level: rule.level, index: index)
            .map { $0.identifier.string(rule.level == .image ? .sopInstanceUID : .studyInstanceUID) ?? "" }
        #expect(Set(matched) == rule.expected)
        #expect(matched.count == rule.expected.count, "a match was returned twice: \(matched)")
    }

    @Test("a search is paged by limit and offset without losing or repeating a study", arguments: IndexImplementation.all)
    func paging(_ implementation: IndexImplementation) throws {
        let index = try implementation.open(Repository.temporaryFolder())
        for number in 1...7 {
            _ = try index.record(try Self.attributes(patient: "P", study: "9.\(number)", series: "9.\(number).1", sop: "9.\(number).1.1"),
                                 original: Self.original("9.\(number).1.1"), receivedAt: Double(number))
        }
        var seen: [String] = []
        for offset in stride(from: 0, to: 9, by: 3) {
            var query = IndexQuery()
            query.limit = 3
            query.offset = offset
            seen += try index.studies(matching: query).map(\.studyInstanceUID)
        }
        #expect(seen.count == 7 && Set(seen).count == 7)
    }

    // MARK: Diagnosis status

    @Test("a study's status moves forward for anyone, back only with admin rights and a reason, and every change is kept",
          arguments: IndexImplementation.all)
    func statusTransitions(_ implementation: IndexImplementation) throws {
        let index = try implementation.open(Repository.temporaryFolder())
        _ = try index.record(try Self.attributes(patient: "P", study: "5", series: "5.1", sop: "5.1.1"), original: Self.original("5.1.1"), receivedAt: 1)
        #expect(try index.status(studyInstanceUID: "5") == .unread)
        #expect(try index.status(studyInstanceUID: "6") == nil)
        _ = try index.changeStatus(studyInstanceUID: "5", to: .notes, by: "reader", reason: nil, allowBackwards: false, now: 10)
        #expect(throws: StatusChangeError.unchanged(.notes)) {
            try index.changeStatus(studyInstanceUID: "5", to: .notes, by: "reader", reason: nil, allowBackwards: false, now: 11)
        }
        #expect(throws: StatusChangeError.backwards(from: .notes, to: .diagnosed)) {
            try index.changeStatus(studyInstanceUID: "5", to: .diagnosed, by: "reader", reason: nil, allowBackwards: false, now: 12)
        }
        #expect(throws: StatusChangeError.reasonRequired) {
            try index.changeStatus(studyInstanceUID: "5", to: .diagnosed, by: "admin", reason: nil, allowBackwards: true, now: 13)
        }
        #expect(throws: StatusChangeError.noSuchStudy("6")) {
            try index.changeStatus(studyInstanceUID: "6", to: .diagnosed, by: "reader", reason: nil, allowBackwards: false, now: 14)
        }
        _ = try index.changeStatus(studyInstanceUID: "5", to: .diagnosed, by: "admin", reason: "wrong patient", allowBackwards: true, now: 15)
        #expect(try index.status(studyInstanceUID: "5") == .diagnosed)
        let history = try index.statusHistory(studyInstanceUID: "5")
        #expect(history.map(\.to) == [DiagnosisStatus.notes.rawValue, DiagnosisStatus.diagnosed.rawValue])
        #expect(history.map(\.user) == ["reader", "admin"])
        #expect(history.last?.reason == "wrong patient")
        #expect(try index.studies(matching: IndexQuery()).first?.status == .diagnosed)
    }

    @Test("a note raises the status to notes and keeps each revision", arguments: IndexImplementation.all)
    func diagnosticEntries(_ implementation: IndexImplementation) throws {
        let index = try implementation.open(Repository.temporaryFolder())
        _ = try index.record(try Self.attributes(patient: "P", study: "7", series: "7.1", sop: "7.1.1"), original: Self.original("7.1.1"), receivedAt: 1)
        let first = try index.addDiagnostic(DiagnosticEntry(item: "", kind: .note, revision: 0, body: "{\"text\":\"nodule\"}", author: "reader", at: 2),
                                            studyInstanceUID: "7")
        #expect(!first.item.isEmpty)
        _ = try index.addDiagnostic(DiagnosticEntry(item: first.item, kind: .note, revision: 0, body: "{\"text\":\"nodule, 4 mm\"}", author: "reader", at: 3),
                                    studyInstanceUID: "7")
        #expect(try index.status(studyInstanceUID: "7") == .notes)
        #expect(try index.diagnostics(studyInstanceUID: "7", history: false).map(\.body) == ["{\"text\":\"nodule, 4 mm\"}"])
        #expect(try index.diagnostics(studyInstanceUID: "7", history: true).count == 2)
    }

    // MARK: Derivation queue

    @Test("two owners claiming at once never get the same job, and together get every job", arguments: IndexImplementation.all)
    func concurrentClaims(_ implementation: IndexImplementation) async throws {
        let folder = Repository.temporaryFolder()
        let index = try implementation.open(folder)
        let count = 120
        _ = try index.record(try (1...count).map { number in
            (try Self.attributes(patient: "P", study: "8", series: "8.1", sop: "8.1.\(number)"), Self.original("8.1.\(number)"))
        }, receivedAt: 1)
        // Each owner on its own connection, as two processes (or nodes) would be.
        let owners = try ["owner-a", "owner-b"].map { ($0, try implementation.open(folder)) }
        let claims = try await withThrowingTaskGroup(of: [String].self) { group in
            for (owner, connection) in owners {
                group.addTask {
                    var mine: [String] = []
                    while let job = try connection.claimDerivation(owner: owner, now: 2) { mine.append(job.sopInstanceUID) }
                    return mine
                }
            }
            return try await group.reduce(into: [[String]]()) { $0.append($1) }
        }
        #expect(Set(claims[0]).isDisjoint(with: claims[1]), "a job was claimed by both owners")
        #expect(claims[0].count + claims[1].count == count)
        #expect(try index.derivationCounts() == DerivationCounts(pending: 0, running: count, done: 0))
    }

    @Test("jobs are claimed most urgent first, deferred to the back, and given back from an owner that died without counting a try",
          arguments: IndexImplementation.all)
    func queueOrder(_ implementation: IndexImplementation) throws {
        let index = try implementation.open(Repository.temporaryFolder())
        for number in 1...3 {
            _ = try index.record(try Self.attributes(patient: "P", study: "4", series: "4.1", sop: "4.1.\(number)"),
                                 original: Self.original("4.1.\(number)"), receivedAt: Double(number))
        }
        try index.prioritizeDerivation(sopInstanceUID: "4.1.3")
        let urgent = try #require(try index.claimDerivation(owner: "a", now: 5))
        #expect(urgent == DerivationJob(sopInstanceUID: "4.1.3", attempts: 1))
        try index.deferDerivation(urgent, countingAttempt: true, now: 6)
        #expect(try index.claimDerivation(owner: "a", now: 7)?.sopInstanceUID == "4.1.1", "a deferred job goes behind the others")
        #expect(try index.claimDerivation(owner: "dead", now: 8)?.sopInstanceUID == "4.1.2")
        #expect(try index.releaseAbandonedDerivations(isAlive: { $0 != "dead" }) == 1)
        // The deferred job kept its try and its place (deferred at 6, before the dead owner's claim at 8), which is
        // not counted.
        #expect(try index.claimDerivation(owner: "a", now: 9) == DerivationJob(sopInstanceUID: "4.1.3", attempts: 2))
        #expect(try index.claimDerivation(owner: "a", now: 10) == DerivationJob(sopInstanceUID: "4.1.2", attempts: 1))
        #expect(try index.claimDerivation(owner: "a", now: 11) == nil)

        let version = StoredFile(version: "V2", variant: "j2k", tier: "fast", path: "v2/4.1.3", size: 5, sha256: "v2", transferSyntaxUID: "1.2.840.10008.1.2.4.91",
                                 sopInstanceUID: "9.4.1.3")
        try index.completeDerivation(DerivationJob(sopInstanceUID: "4.1.3", attempts: 2), files: [version], missing: ["V3": "too small"], now: 12)
        #expect(try index.files(sopInstanceUID: "4.1.3").map(\.version).sorted() == ["V1", "V2"])
        #expect(try index.derivation(sopInstanceUID: "4.1.3").missing == ["V3": "too small"])
        #expect(try index.derivationCounts() == DerivationCounts(pending: 0, running: 2, done: 1))
        var query = IndexQuery()
        query.sopInstanceUIDs = ["4.1.3"]
        #expect(try index.requeueDerivations(matching: query, now: 13) == 1)
        #expect(try index.claimDerivation(owner: "a", now: 14)?.sopInstanceUID == "4.1.3")
    }

    // MARK: Tiering journal

    @Test("the tiering journal survives a restart at each step: copying keeps the source, switched names the destination",
          arguments: IndexImplementation.all)
    func tieringJournal(_ implementation: IndexImplementation) throws {
        let folder = Repository.temporaryFolder()
        var index = try implementation.open(folder)
        for number in 1...3 {
            _ = try index.record(try Self.attributes(patient: "P", study: "3", series: "3.1", sop: "3.1.\(number)"),
                                 original: Self.original("3.1.\(number)"), receivedAt: 1)
        }
        let objects = try index.tieredObjects(studyInstanceUIDs: ["3"], patientID: nil)
        #expect(objects.count == 3 && objects.allSatisfy { $0.copies.keys.sorted() == ["fast"] })
        func transfer(_ object: TieredObject, _ kind: TierTransfer.Kind) -> TierTransfer {
            TierTransfer(kind: kind, object: object.key, path: object.path, sha256: object.sha256, size: object.size, source: "fast",
                         destination: "archive", reason: "test")
        }
        // A move of the first object reaches `switched`; a copy of the second and a move of the third stay `copying`.
        let begun = try index.beginTransfers([transfer(objects[0], .move), transfer(objects[1], .copy), transfer(objects[2], .move)])
        #expect(Set(begun.map(\.id)).count == 3 && begun.allSatisfy { $0.state == .copying })
        try index.switchTransfers([begun[0]], now: 2)

        index = try implementation.open(folder)  // the process died; a new one opens the index
        let pending = try index.transfers()
        #expect(pending.map(\.id) == begun.map(\.id), "unfinished steps, oldest first")
        #expect(pending.map(\.state) == [.switched, .copying, .copying])
        #expect(try index.tieredObject(path: objects[0].path)?.copies.keys.sorted() == ["archive"])
        #expect(try index.tieredObject(path: objects[1].path)?.copies.keys.sorted() == ["fast"])
        #expect(try index.tieredObject(path: objects[2].path)?.copies.keys.sorted() == ["fast"])
        #expect(try index.storedFiles(tier: "archive").map(\.file.path) == [objects[0].path])

        try index.endTransfers(pending.map(\.id))
        #expect(try index.transfers().isEmpty)
    }

    // MARK: Fixtures

    static func attributes(patient: String, name: String = "DOE^JOHN", study: String, date: String = "20240101", accession: String = "",
                           series: String, modality: String = "CT", sop: String) throws -> IndexedAttributes {
        var dataSet = DataSet()
        dataSet.set(.patientID, .LO, patient)
        dataSet.set(.patientName, .PN, name)
        dataSet.set(.studyInstanceUID, .UI, study)
        dataSet.set(.studyDate, .DA, date)
        dataSet.set(.accessionNumber, .SH, accession)
        dataSet.set(.seriesInstanceUID, .UI, series)
        dataSet.set(.modality, .CS, modality)
        dataSet.set(.sopInstanceUID, .UI, sop)
        dataSet.set(.sopClassUID, .UI, "1.2.840.10008.5.1.4.1.1.2")
        return try IndexedAttributes(dataSet)
    }

    static func original(_ sop: String, sha: String = "0") -> StoredFile {
        StoredFile(version: "V1", variant: "original", tier: "fast", path: "\(sop)-\(sha).dcm", size: 100, sha256: sha,
                   transferSyntaxUID: "1.2.840.10008.1.2.1")
    }
}
