import Foundation

/// Decides, from the policy and a moment, what moves: pure, so `pacs tier run --dry-run --now` and the
/// tests can ask about any moment without waiting for it.
public struct TierPlanner: Sendable {
    public static let fast = "fast", archive = "archive"

    public let policy: TieringPolicy

    public init(policy: TieringPolicy) {
        self.policy = policy
    }

    /// The first rule naming the object's version and modality, and when its retention ends (nil while the
    /// clock has not started: the study never reached the rule's status).
    func retention(of object: TieredObject) -> (rule: Int, start: Double?, due: Double?)? {
        guard let index = policy.rules.firstIndex(where: { rule in
            rule.versions.contains(object.key.version)
                && (rule.modalities.isEmpty || rule.modalities.contains { $0.uppercased() == object.modality.uppercased() })
        }) else { return nil }
        let rule = policy.rules[index]
        let start = rule.since == .ingest ? object.ingestedAt : rule.status.flatMap { object.statusReachedAt[$0] }
        return (index, start, start.map { $0 + rule.afterDays * 86_400 })
    }

    private func describe(_ rule: Int, start: Double) -> String {
        let r = policy.rules[rule]
        let clock = r.since == .ingest ? "ingest" : "reaching \(r.status ?? "?")"
        return "tiering.yaml rules[\(rule)]: \(r.versions.joined(separator: ",")) \(Self.days(r.afterDays)) after \(clock) (\(Self.date(start)))"
    }

    public func plan(_ objects: [TieredObject], now: Double, usage: TierUsage?) -> TierPlan {
        var plan = TierPlan()
        var leaving = Set<TieredObject.Key>()
        func add(_ kind: TierTransfer.Kind, _ object: TieredObject, from: String, to: String, _ reason: String) {
            plan.transfers.append(PlannedTransfer(kind: kind, object: object, source: from, destination: to, reason: reason))
            if kind != .copy, from == Self.fast { leaving.insert(object.key) }
        }
        let (fast, archive) = (Self.fast, Self.archive)
        // Oldest first, so that a limited run (or the watermark) takes the longest-waiting objects.
        let ordered = objects.filter { $0.has(fast) }.sorted { ($0.ingestedAt, $0.path) < ($1.ingestedAt, $1.path) }
        for object in ordered {
            let onArchive = object.has(archive)
            if case let .some(.some(expiry)) = object.copies[fast] {
                // A recalled copy stays until its time to live ends, then the archive copy is the only one.
                if expiry <= now, onArchive { add(.drop, object, from: fast, to: archive, "recalled copy expired \(Self.date(expiry))") }
                continue
            }
            let retention = retention(of: object)
            let due = retention.flatMap { $0.due }.map { $0 <= now } ?? false
            switch policy.variant {
            case .move:
                if due, let retention, let start = retention.start {
                    add(onArchive ? .drop : .move, object, from: fast, to: archive, describe(retention.rule, start: start))
                }
            case .copyAtIngest:
                guard let retention else { continue }
                if !onArchive {
                    add(.copy, object, from: fast, to: archive, "variant copy_at_ingest: archived as soon as stored")
                } else if due, let start = retention.start {
                    add(.drop, object, from: fast, to: archive, describe(retention.rule, start: start))
                }
            case .keepBoth:
                if !onArchive { add(.copy, object, from: fast, to: archive, "variant keep_both: every version on both tiers") }
            }
        }
        if let usage, usage.percent > policy.highWatermark {
            planWatermark(&plan, ordered, usage: usage, leaving: &leaving)
        }
        return plan
    }

    /// Over the high watermark: the oldest objects the rules name leave early until the low watermark.
    private func planWatermark(_ plan: inout TierPlan, _ ordered: [TieredObject], usage: TierUsage, leaving: inout Set<TieredObject.Key>) {
        let target = Int64(Double(usage.capacity) * policy.lowWatermark / 100)
        var used = usage.used - ordered.filter { leaving.contains($0.key) }.reduce(0) { $0 + $1.size }
        let candidates = ordered
            .filter { !leaving.contains($0.key) && $0.copies[Self.fast] == .some(nil) && retention(of: $0) != nil }
            .sorted { (retention(of: $0)?.start ?? .infinity, $0.path) < (retention(of: $1)?.start ?? .infinity, $1.path) }
        let watermark = "fast tier at \(String(format: "%.0f", usage.percent))% is above the \(Self.percent(policy.highWatermark)) high watermark"
        if policy.variant != .keepBoth {
            for object in candidates where used > target {
                let kind: TierTransfer.Kind = object.has(Self.archive) ? .drop : .move
                plan.transfers.append(PlannedTransfer(kind: kind, object: object, source: Self.fast, destination: Self.archive,
                                                      reason: "\(watermark): oldest eligible first, down to \(Self.percent(policy.lowWatermark))"))
                leaving.insert(object.key)
                used -= object.size
            }
        }
        if used > target {
            plan.warnings.append("\(watermark) and nothing more is eligible to leave it (variant \(policy.variant.rawValue); "
                                 + "rules name \(Set(policy.rules.flatMap(\.versions)).sorted().joined(separator: ", "))): "
                                 + "\(used - target) bytes stay above the low watermark; add capacity or a rule")
        }
    }

    public static func date(_ seconds: Double) -> String {
        Date(timeIntervalSince1970: seconds).formatted(.iso8601)
    }

    static func days(_ days: Double) -> String {
        days == days.rounded() ? "\(Int(days)) days" : "\(days) days"
    }

    static func percent(_ value: Double) -> String {
        "\(String(format: "%.0f", value))%"
    }
}
