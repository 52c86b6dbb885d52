import ArgumentParser
import Foundation
import PacsServer

/// `pacs conflict`: objects that arrived under a SOP Instance UID already stored with other content, held aside.
struct ConflictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conflict", abstract: "Objects held aside because another object is stored under their SOP Instance UID.",
        subcommands: [List.self, Show.self, Discard.self], defaultSubcommand: List.self)

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the objects held aside.")
        @OptionGroup var global: GlobalOptions
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let store = try global.openStore(policies: try global.loadPolicies(), recover: false)
            let held = try store.index.heldConflicts()
            if json { return try Output.json(held) }
            for conflict in held { Output.line(ConflictCommand.summary(conflict)) }
            if held.isEmpty { Output.line("no conflicts held") }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Where a held object's file is, and how it differs from the stored instance.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The conflict's number.") var id: Int64

        func run() throws {
            let store = try global.openStore(policies: try global.loadPolicies(), recover: false)
            guard let conflict = try store.index.heldConflicts().first(where: { $0.id == id }) else { throw CLIError("no conflict \(id)") }
            Output.line(ConflictCommand.summary(conflict))
            Output.line("file: \(store.conflicts.url(of: conflict).path) (\(conflict.size) bytes, SHA-256 \(conflict.sha256))")
            Output.line("stored instance: pacs versions \(conflict.sopInstanceUID)")
        }
    }

    struct Discard: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Drop a held object: the stored instance is the right one.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The conflict's number.") var id: Int64

        func run() throws {
            let store = try global.openStore(policies: try global.loadPolicies(), recover: false)
            guard let conflict = try store.conflicts.discard(id: id) else { throw CLIError("no conflict \(id)") }
            Output.line("discarded conflict \(conflict.id) (\(conflict.sopInstanceUID)); the stored instance is unchanged")
        }
    }

    static func summary(_ conflict: HeldConflict) -> String {
        let when = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: conflict.receivedAt))
        return "\(conflict.id)  \(when)  \(conflict.sopInstanceUID)  from \(conflict.source): \(conflict.difference)"
    }
}
