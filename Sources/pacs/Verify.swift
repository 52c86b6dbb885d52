import ArgumentParser
import Foundation
import PacsServer

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check that the index and the files agree (sizes, SHA-256, orphans, unfinished steps).")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Finish or roll back unfinished steps and quarantine orphan files. Never deletes an image.")
    var repair = false

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() throws {
        let policies = try global.loadPolicies()
        let store = try global.openStore(policies: policies, recover: false)
        // Holding the mover's lock: a file the mover has copied but not yet indexed must not pass for an orphan.
        let mover = store.mover(policy: policies.current.tiering)
        let report = try mover.exclusively(waitUpTo: nil) {
            let moves = try mover.recover().map { "tiering: \($0)" }
            var report = try Verifier(index: store.index, tiers: store.tiers).run(repair: repair)
            report.recovered = moves + report.recovered
            return report
        }
        if json {
            try Output.json(report)
        } else {
            for line in report.recovered { Output.line("recovered: \(line)") }
            for line in report.repaired { Output.line("repaired: \(line)") }
            for finding in report.findings { Output.line(finding.description) }
            Output.line("checked \(report.filesChecked) files: \(report.isClean ? "consistent" : "\(report.findings.count) problems")")
        }
        if !report.isClean { throw ExitCode(1) }
    }
}
