import ArgumentParser
import Foundation
import PacsServer

struct AECommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ae", abstract: "Manage the remote AEs of network.yaml.",
                                                    subcommands: [Add.self, Remove.self, List.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a remote AE (a running server picks it up by itself).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The AE title.") var title: String
        @Option(help: "Host name or address.") var host: String
        @Option(help: "DICOM port.") var port: Int
        @Option(help: "modality, reading, referring, teleradiology or peer.") var role: String
        @Option(help: "The version C-GET/C-MOVE send it instead of its role's default.") var version: String?

        func run() throws {
            guard let role = RemoteRole(rawValue: role) else {
                throw ValidationError("role must be one of \(RemoteRole.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            try CLIError.reporting {
                try PolicyListEditor.remoteAEs(in: global.policyFolder)
                    .add([("title", title), ("host", host), ("port", "\(port)"), ("role", role.rawValue)] + (version.map { [("version", $0)] } ?? []))
            }
            Output.line("added \(title) (\(role.rawValue), \(host):\(port))")
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a remote AE.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The AE title.") var title: String

        func run() throws {
            try CLIError.reporting {
                try PolicyListEditor.remoteAEs(in: global.policyFolder).remove(title)
            }
            Output.line("removed \(title)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the remote AEs.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let network = try global.loadPolicies().current.network
            if json {
                try Output.json(network.remoteAEs)
                return
            }
            Output.line("we are \(network.aeTitle) on DICOM port \(network.dicomPort); unknown callers \(network.acceptUnknownCallers ? "accepted" : "refused")")
            for remote in network.remoteAEs {
                Output.line("\(remote.title.padding(toLength: 16, withPad: " ", startingAt: 0))  \(remote.host):\(remote.port)  \(remote.role.rawValue)  receives \(remote.retrievedVersion)")
            }
        }
    }
}
