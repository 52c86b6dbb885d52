import ArgumentParser
import CommandLineSupport
import Foundation
import PacsServer

struct UserCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "user", abstract: "Manage the users of users.yaml.",
                                                    subcommands: [Add.self, Remove.self, List.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a user; the password is asked on a terminal (not echoed), else read as one line from standard input.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The user name.") var name: String
        @Option(help: "reading, referring, teleradiology or admin.") var role: String

        func run() throws {
            guard let role = Role(rawValue: role) else {
                throw ValidationError("role must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard let password = Secret.read(prompt: "Password for \(name): "), !password.isEmpty else {
                throw CLIError("no password given")
            }
            try CLIError.reporting {
                try PolicyListEditor.users(in: global.policyFolder)
                    .add([("name", name), ("role", role.rawValue), ("password", PasswordHash(password: password).encoded)])
            }
            Output.line("added \(name) (\(role.rawValue))")
        }

    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a user.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The user name.") var name: String

        func run() throws {
            try CLIError.reporting {
                try PolicyListEditor.users(in: global.policyFolder).remove(name)
            }
            Output.line("removed \(name)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the users and their roles.")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            for user in try global.loadPolicies().current.users.users {
                Output.line("\(user.name.padding(toLength: 20, withPad: " ", startingAt: 0))  \(user.role.rawValue)")
            }
        }
    }
}
