import ArgumentParser
import Foundation
import PacsServer

struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "policy", abstract: "Work with policy folders.",
                                                    subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Validate a policy folder; exit 1 with every problem found.")

        @Argument(help: "The folder (default: $STRATA_POLICIES or ./Policies).")
        var folder: String?

        func run() throws {
            let url = URL(fileURLWithPath: folder ?? ProcessInfo.processInfo.environment["STRATA_POLICIES"] ?? "Policies", isDirectory: true)
            switch Policies.load(from: url) {
            case .success:
                Output.line("\(url.path): valid")
            case let .failure(errors):
                for problem in errors.problems { Output.line(problem.description) }
                Output.line("\(url.path): \(errors.problems.count) problem\(errors.problems.count == 1 ? "" : "s")")
                throw ExitCode(1)
            }
        }
    }
}
