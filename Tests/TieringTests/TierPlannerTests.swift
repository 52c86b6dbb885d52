import Foundation
import Testing
import Tiering

/// The planner decides what moves as of any moment (the injected clock): these tests ask it about the
/// moments around each rule's retention and watermark.
@Suite("Tier planner: retention rules, variants, recalls and watermarks at a given moment")
struct TierPlannerTests {
    static let day = 86_400.0
    static let ingest = 1_800_000_000.0

    static func policy(_ variant: TieringPolicy.Variant = .move, rules: [TieringPolicy.Rule]? = nil, capacity: Int64? = nil) -> TieringPolicy {
        TieringPolicy(fastPath: "fast", archivePath: "archive", capacity: capacity, highWatermark: 85, lowWatermark: 70, variant: variant,
                      runEvery: 3_600, bandwidth: nil, recallTTL: 7 * day,
                      rules: rules ?? [TieringPolicy.Rule(versions: ["V1"], afterDays: 30, since: .ingest, status: nil, modalities: [])])
    }

    static func object(_ n: Int64, version: String = "V1", variant: String = "original", modality: String = "CT", size: Int64 = 100,
                       ingested: Double = ingest, copies: [String: Double?] = ["fast": nil], reached: [String: Double] = [:]) -> TieredObject {
        TieredObject(key: .init(instance: n, version: version, variant: variant), sopInstanceUID: "1.2.\(n)", studyInstanceUID: "1.3",
                     patientID: "P", modality: modality, path: "p/\(n).\(variant)", size: size, sha256: "x", copies: copies,
                     ingestedAt: ingested, statusReachedAt: reached)
    }

    func kinds(_ plan: TierPlan) -> [String] {
        plan.transfers.map { "\($0.kind.rawValue) \($0.object.key.instance) \($0.object.key.version)" }
    }

    @Test("V1 moves exactly when its retention ends, lossy versions stay")
    func retention() {
        let planner = TierPlanner(policy: Self.policy())
        let objects = [Self.object(1), Self.object(1, version: "V2", variant: "j2k")]
        let due = Self.ingest + 30 * Self.day
        #expect(planner.plan(objects, now: due - 1, usage: nil).transfers.isEmpty)
        let plan = planner.plan(objects, now: due, usage: nil)
        #expect(kinds(plan) == ["move 1 V1"])
        #expect(plan.transfers[0].reason.contains("tiering.yaml rules[0]: V1 30 days after ingest"))
    }

    @Test("a status rule counts from when the study reached the status; a study that never did stays")
    func sinceStatus() {
        let rule = TieringPolicy.Rule(versions: ["V1"], afterDays: 10, since: .status, status: "report", modalities: [])
        let planner = TierPlanner(policy: Self.policy(rules: [rule]))
        let reported = Self.object(1, reached: ["report": Self.ingest + 5 * Self.day])
        let unread = Self.object(2)
        #expect(planner.plan([reported, unread], now: Self.ingest + 15 * Self.day - 1, usage: nil).transfers.isEmpty)
        #expect(kinds(planner.plan([reported, unread], now: Self.ingest + 15 * Self.day, usage: nil)) == ["move 1 V1"])
        #expect(planner.plan([unread], now: Self.ingest + 10_000 * Self.day, usage: nil).transfers.isEmpty)
    }

    @Test("modalities restrict a rule, and the oldest objects come first")
    func modalitiesAndOrder() {
        let planner = TierPlanner(policy: Self.policy(rules: [TieringPolicy.Rule(versions: ["V1"], afterDays: 1, since: .ingest, status: nil, modalities: ["CR"])]))
        let objects = [Self.object(1, modality: "CR", ingested: Self.ingest + 100), Self.object(2, modality: "CT"),
                       Self.object(3, modality: "cr", ingested: Self.ingest)]
        #expect(kinds(planner.plan(objects, now: Self.ingest + 10 * Self.day, usage: nil)) == ["move 3 V1", "move 1 V1"])
    }

    @Test("copy_at_ingest copies at once and drops the fast copy after retention; keep_both only copies")
    func variants() {
        let copyFirst = TierPlanner(policy: Self.policy(.copyAtIngest))
        #expect(kinds(copyFirst.plan([Self.object(1)], now: Self.ingest + 1, usage: nil)) == ["copy 1 V1"])
        let archived = Self.object(1, copies: ["fast": nil, "archive": nil])
        #expect(copyFirst.plan([archived], now: Self.ingest + 29 * Self.day, usage: nil).transfers.isEmpty)
        #expect(kinds(copyFirst.plan([archived], now: Self.ingest + 30 * Self.day, usage: nil)) == ["drop 1 V1"])

        let both = TierPlanner(policy: Self.policy(.keepBoth))
        let lossy = Self.object(2, version: "V3", variant: "j2k")
        #expect(kinds(both.plan([Self.object(1), lossy], now: Self.ingest + 1, usage: nil)) == ["copy 1 V1", "copy 2 V3"])
        #expect(both.plan([archived], now: Self.ingest + 1_000 * Self.day, usage: nil).transfers.isEmpty)
    }

    @Test("a recalled copy stays until its time to live ends, then is dropped")
    func recallExpiry() {
        let planner = TierPlanner(policy: Self.policy())
        let expiry = Self.ingest + 100 * Self.day
        let recalled = Self.object(1, copies: ["fast": expiry, "archive": nil])
        #expect(planner.plan([recalled], now: expiry - 1, usage: nil).transfers.isEmpty)
        let plan = planner.plan([recalled], now: expiry, usage: nil)
        #expect(kinds(plan) == ["drop 1 V1"])
        #expect(plan.transfers[0].reason.hasPrefix("recalled copy expired"))
    }

    @Test("over the high watermark the oldest eligible objects leave early until the low watermark")
    func watermark() {
        let planner = TierPlanner(policy: Self.policy(capacity: 1_000))
        let objects = (1...9).map { Self.object(Int64($0), size: 100, ingested: Self.ingest + Double(10 - $0)) }
            + [Self.object(10, version: "V2", variant: "j2k", size: 100)]
        // 1000 bytes of 1000 used: 100% > 85%; down to 70% means 300 bytes leave: the three oldest (9, 8, 7).
        let plan = planner.plan(objects, now: Self.ingest + 1, usage: TierUsage(used: 1_000, capacity: 1_000))
        #expect(kinds(plan) == ["move 9 V1", "move 8 V1", "move 7 V1"])
        #expect(plan.transfers.allSatisfy { $0.reason.contains("above the 85% high watermark") })
        #expect(plan.warnings.isEmpty)
        #expect(planner.plan(objects, now: Self.ingest + 1, usage: TierUsage(used: 850, capacity: 1_000)).transfers.isEmpty)
    }

    @Test("over the high watermark with nothing eligible the plan says so and moves nothing")
    func watermarkStuck() {
        let planner = TierPlanner(policy: Self.policy(capacity: 1_000))
        let lossy = (1...9).map { Self.object(Int64($0), version: "V2", variant: "j2k", size: 100) }
        let plan = planner.plan(lossy, now: Self.ingest + 1, usage: TierUsage(used: 900, capacity: 1_000))
        #expect(plan.transfers.isEmpty)
        #expect(plan.warnings.count == 1)
        #expect(plan.warnings[0].contains("nothing more is eligible"))
    }
}
