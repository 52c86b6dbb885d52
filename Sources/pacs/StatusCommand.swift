import ArgumentParser
import Foundation
import PacsServer

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "A study's diagnosis status and its history.",
                                                    subcommands: [Set.self, Show.self])

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set a study's status: 1 unread, 2 diagnosed, 3 notes, 4 annotations, 5 report. Going back needs --reason.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The Study Instance UID.") var study: String
        @Argument(help: "The new status, 1 to 5.") var status: Int
        @Option(help: "Why (required to go back in the workflow).") var reason: String?
        @Option(help: "Who is recorded as making the change.") var user = "admin (pacs status)"

        func run() throws {
            guard let target = DiagnosisStatus(rawValue: status) else { throw ValidationError("the status is 1 to 5") }
            let store = try global.openStore(policies: try global.loadPolicies(), recover: false)
            do {
                // The command line is an admin's tool: it may go back, with a reason.
                let change = try store.index.changeStatus(studyInstanceUID: study, to: target, by: user, reason: reason,
                                                          allowBackwards: true, now: Date().timeIntervalSince1970)
                Output.line("study \(study): \(change.from) -> \(change.to) (\(target.name))")
            } catch let error as StatusChangeError {
                throw CLIError("\(error)")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a study's status and every change.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The Study Instance UID.") var study: String

        func run() throws {
            let store = try global.openStore(policies: try global.loadPolicies(), recover: false)
            var query = IndexQuery()
            query.studyInstanceUIDs = [study]
            guard let summary = try store.index.studies(matching: query).first else { throw CLIError("no study \(study)") }
            Output.line("status \(summary.status.rawValue) (\(summary.status.name))")
            let formatter = ISO8601DateFormatter()
            for change in try store.index.statusHistory(studyInstanceUID: study) {
                Output.line("\(formatter.string(from: Date(timeIntervalSince1970: change.at)))  \(change.from) -> \(change.to)  by \(change.user)\(change.reason.map { "  (\($0))" } ?? "")")
            }
        }
    }
}
