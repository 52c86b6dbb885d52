import ArgumentParser
import Codecs
import CommandLineSupport
import Workstation

struct Notes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a study's notes, annotations and report, or add a reading note.")
    @OptionGroup var connection: Connection
    @Argument(help: "The Study Instance UID.") var study: String
    @Option(help: "Add this note.") var add: String?
    @Flag(help: "Every revision, not only the latest.") var history = false

    func run() async throws {
        let body = try await withClient(connection) { client in
            let diagnosis = Diagnosis(client: client)
            if let add { return try await diagnosis.addNote(study, text: add) }
            return try await diagnosis.diagnostic(study, history: history)
        }
        print(String(decoding: body, as: UTF8.self))
    }
}
