import Foundation
import Tiering

extension TieringPolicy {
    static func read(_ yaml: YAMLReader, versions: [String]) -> TieringPolicy {
        let fast = yaml.mapping("fast", required: true)
        let fastPath = fast?.string("path") ?? "fast"
        let capacity = fast?.string("capacity").flatMap { text -> Int64? in
            guard let bytes = Quantity.bytes(text) else {
                fast?.problem("capacity", "\"\(text)\" is not a size: write e.g. 500GB or 2TB")
                return nil
            }
            return bytes
        }
        let high = fast?.number("high_watermark", in: 1...100, hint: "percent of capacity") ?? 85
        let low = fast?.number("low_watermark", in: 0...100, hint: "percent of capacity") ?? 70
        if low >= high { fast?.problem("low_watermark", "must be below high_watermark (\(Int(high)))") }
        fast?.finish()

        let archive = yaml.mapping("archive", required: true)
        let archivePath = archive?.string("path") ?? "archive"
        archive?.finish()

        let variantText = yaml.string("variant") ?? Variant.move.rawValue
        let variant = Variant(rawValue: variantText) ?? {
            yaml.problem("variant", "\"\(variantText)\" is not a variant: use \(Variant.allCases.map(\.rawValue).joined(separator: ", "))")
            return .move
        }()
        let runEvery = duration(yaml, "run_every") ?? 3_600
        let recallTTL = duration(yaml, "recall_ttl") ?? 7 * 86_400
        let recallOnRead = yaml.bool("recall_on_read", default: true)
        let prefetchLead = duration(yaml, "prefetch_lead") ?? 12 * 3_600
        let scrubPerDay = yaml.string("scrub_per_day").flatMap { text -> Double? in
            guard text.hasSuffix("%"), let percent = Double(text.dropLast().trimmingCharacters(in: .whitespaces)), (0...100).contains(percent) else {
                yaml.problem("scrub_per_day", "\"\(text)\" is not a percentage: write e.g. 2%")
                return nil
            }
            return percent / 100
        } ?? 0.02
        let bandwidth = yaml.string("bandwidth").flatMap { text -> Int64? in
            if text == "unlimited" { return nil }
            guard let bytes = Quantity.bytes(text.replacingOccurrences(of: "/s", with: "")), bytes > 0 else {
                yaml.problem("bandwidth", "\"\(text)\" is not a rate: write e.g. 200MB/s, or unlimited")
                return nil
            }
            return bytes
        }

        var rules: [Rule] = []
        for item in yaml.list("rules") ?? [] {
            let entry = yaml.reader(for: item)
            let names = entry.strings("versions") ?? []
            if names.isEmpty { entry.problem("versions", "name the versions this rule moves, e.g. [V1]") }
            for name in names where !versions.contains(name) {
                entry.problem("versions", "\(name) is not a version (defined in compression.yaml: \(versions.joined(separator: ", ")))")
            }
            let after = entry.number("after_days", in: 0...36_500, required: true, hint: "days")
            let sinceText = entry.string("since") ?? Since.ingest.rawValue
            let since = Since(rawValue: sinceText)
            if since == nil { entry.problem("since", "\"\(sinceText)\" is not a clock start: use ingest or status") }
            let status = entry.string("status")
            if since == .status {
                if let status, !["unread", "diagnosed", "notes", "annotations", "report"].contains(status) {
                    entry.problem("status", "\"\(status)\" is not a diagnosis status: use unread, diagnosed, notes, annotations or report")
                } else if status == nil {
                    entry.problem("status", "is missing: `since: status` needs the status whose reaching starts the clock")
                }
            }
            let modalities = entry.strings("modalities") ?? []
            entry.finish()
            if let after, let since {
                rules.append(Rule(versions: names, afterDays: after, since: since, status: status, modalities: modalities))
            }
        }
        yaml.finish()
        return TieringPolicy(fastPath: fastPath, archivePath: archivePath, capacity: capacity, highWatermark: high,
                             lowWatermark: low, variant: variant, runEvery: runEvery, bandwidth: bandwidth,
                             recallTTL: recallTTL, recallOnRead: recallOnRead, prefetchLead: prefetchLead, scrubPerDay: scrubPerDay,
                             rules: rules)
    }

    private static func duration(_ yaml: YAMLReader, _ key: String) -> Double? {
        guard let text = yaml.string(key) else { return nil }
        guard let seconds = Quantity.seconds(text), seconds > 0 else {
            yaml.problem(key, "\"\(text)\" is not a duration: write e.g. 30m, 12h or 7d")
            return nil
        }
        return seconds
    }
}
