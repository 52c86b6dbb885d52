import ArgumentParser
import Foundation
import Logging
import PacsServer
import Tiering

struct TierCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tier", abstract: "Move originals between the fast and archive tiers.",
                                                    subcommands: [Run.self, Recall.self, Prefetch.self, Scrub.self, Status.self])

    static func service(_ global: GlobalOptions) throws -> TieringService {
        let policies = try global.loadPolicies()
        return TieringService(store: try global.openStore(policies: policies), policies: policies, logger: Logger(label: "strata.tier"))
    }

    static func time(_ text: String?) throws -> Double {
        guard let text else { return Date().timeIntervalSince1970 }
        let full = ISO8601DateFormatter(), day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        guard let date = full.date(from: text) ?? day.date(from: text) else {
            throw ValidationError("\(text) is not an ISO 8601 time: write 2027-01-31 or 2027-01-31T08:00:00Z")
        }
        return date.timeIntervalSince1970
    }

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run one pass of the mover now: what the retention rules and watermarks send to the archive, expired recalls, due prefetches, the scrub's share.")
        @OptionGroup var global: GlobalOptions
        @Flag(name: .customLong("dry-run"), help: "Only print what would move and why.") var dryRun = false
        @Option(help: "Evaluate the rules as of this moment (ISO 8601), e.g. to see what next month moves.") var now: String?

        func run() throws {
            let moment = try TierCommand.time(now)
            let result = try CLIError.reporting { try TierCommand.service(global).pass(now: moment, dryRun: dryRun) }
            for line in result.report.recovered { Output.line("recovered: \(line)") }
            for transfer in result.plan.transfers {
                let object = transfer.object
                Output.line("\(dryRun ? "would " : "")\(transfer.kind.rawValue) \(object.sopInstanceUID) \(object.key.version) \(object.key.variant) "
                            + "(\(object.size) bytes) \(transfer.source) -> \(transfer.destination): \(transfer.reason)")
            }
            for warning in result.plan.warnings { Output.error("warning: \(warning)") }
            for failure in result.report.failures { Output.error("failed: \(failure)") }
            for line in result.prefetched { Output.line("prefetched: \(line)") }
            for line in result.rotten { Output.error("BIT ROT: \(line)") }
            let report = result.report
            if dryRun {
                Output.line("would move \(result.plan.transfers.filter { $0.kind == .move }.count), copy \(result.plan.transfers.filter { $0.kind == .copy }.count), drop \(result.plan.transfers.filter { $0.kind == .drop }.count)")
            } else {
                Output.line("moved \(report.moved), copied \(report.copied), dropped \(report.dropped), recalled \(report.recalled), failed \(report.failures.count); "
                            + "\(report.bytes) bytes in \(String(format: "%.2f", report.seconds)) s; scrubbed \(result.scrubbed)")
            }
            if !report.failures.isEmpty || !result.rotten.isEmpty { throw ExitCode(1) }
        }
    }

    struct Recall: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Copy a study's archived files back to the fast tier for tiering.yaml's recall_ttl.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The Study Instance UID.") var study: String

        func run() throws {
            let report = try CLIError.reporting {
                try TierCommand.service(global).recall(studies: [study], now: Date().timeIntervalSince1970, reason: "recalled by pacs tier recall")
            }
            for failure in report.failures { Output.error("failed: \(failure)") }
            Output.line("recalled \(report.recalled) files (\(report.bytes) bytes) in \(String(format: "%.2f", report.seconds)) s")
            if !report.failures.isEmpty { throw ExitCode(1) }
        }
    }

    struct Prefetch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Schedule an examination: the patient's prior studies are recalled tiering.yaml's prefetch_lead before it.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "The Patient ID.") var patient: String?
        @Option(help: "When the examination is scheduled (ISO 8601).") var at: String?
        @Flag(help: "List the scheduled prefetches instead.") var list = false

        func run() throws {
            let service = try TierCommand.service(global)
            if list {
                for prefetch in try service.store.index.prefetches(pendingOnly: false) {
                    Output.line("\(prefetch.patientID)  \(TierPlanner.date(prefetch.scheduledAt))  by \(prefetch.requestedBy)  "
                                + (prefetch.doneAt.map { "done \(TierPlanner.date($0))" } ?? "pending"))
                }
                return
            }
            guard let patient, let at else { throw ValidationError("give --patient and --at (or --list)") }
            let scheduled = try service.schedulePrefetch(patientID: patient, at: try TierCommand.time(at), by: "admin (pacs tier prefetch)")
            Output.line("prefetch for patient \(patient) at \(TierPlanner.date(scheduled.scheduledAt)) scheduled")
        }
    }

    struct Scrub: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Re-hash archived files, least recently verified first, to find bit rot.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "How many files.") var limit = 100

        func run() throws {
            let service = try TierCommand.service(global)
            let mover = service.store.mover(policy: service.policies.current.tiering)
            let result = try CLIError.reporting { try mover.exclusively(waitUpTo: 30) { try mover.scrub(limit: limit, now: Date().timeIntervalSince1970) } }
            for line in result.rotten { Output.error("BIT ROT: \(line)") }
            Output.line("checked \(result.checked), bit rot \(result.rotten.count)")
            if !result.rotten.isEmpty { throw ExitCode(1) }
        }
    }

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Bytes and objects per tier and version, pending moves, recent activity.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "As JSON.") var json = false

        func run() throws {
            let figures = try TierCommand.service(global).figures(now: Date().timeIntervalSince1970)
            if json { return try Output.json(figures) }
            for holding in figures.holdings {
                Output.line("\(holding.tier.padding(toLength: 8, withPad: " ", startingAt: 0)) \(holding.version)  \(holding.objects) objects  \(holding.bytes) bytes")
            }
            if let fill = figures.fastFill {
                Output.line("fast tier \(fill.percent)% full (\(fill.used) of \(fill.capacity) bytes; watermarks \(Int(fill.highWatermark))%/\(Int(fill.lowWatermark))%)")
            }
            Output.line("pending: move \(figures.pending.moves), copy \(figures.pending.copies), drop \(figures.pending.drops) (\(figures.pending.bytes) bytes)")
            let activity = figures.activity
            Output.line("last day: \(activity.movedLastDay) left the fast tier (\(activity.movedLastHour) in the last hour), \(activity.recallsLastDay) recalls"
                        + (activity.recallSecondsAverage.map { String(format: " (average %.3f s)", $0) } ?? "")
                        + ", \(activity.scrubbedLastDay) scrubbed, \(activity.failuresLastDay) failures; bit rot found \(activity.bitRotFound)")
            Output.line("in flight \(figures.inFlight), prefetches pending \(figures.prefetchesPending)")
            for warning in figures.warnings { Output.error("warning: \(warning)") }
            for problem in figures.lastProblems { Output.line("problem: \(problem)") }
        }
    }
}
