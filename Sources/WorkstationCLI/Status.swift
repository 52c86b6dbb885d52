import ArgumentParser
import Codecs
import CommandLineSupport
import Workstation

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "A study's diagnosis status, or set it (reading doctors).")
    @OptionGroup var connection: Connection
    @Argument(help: "The Study Instance UID.") var study: String
    @Argument(help: "The new status, 1 to 5 (omit to show).") var status: Int?
    @Option(help: "Why (needed to go back; admins only).") var reason: String?

    func run() async throws {
        let body = try await withClient(connection) { client in
            let diagnosis = Diagnosis(client: client)
            if let status { return try await diagnosis.setStatus(study, to: status, reason: reason) }
            return try await diagnosis.status(study)
        }
        print(String(decoding: body, as: UTF8.self))
    }
}
