import ArgumentParser
import Codecs
import CommandLineSupport
import Foundation
import Workstation

struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write (a new revision of) a study's report.")
    @OptionGroup var connection: Connection
    @Argument(help: "The Study Instance UID.") var study: String
    @Option(help: "The report text (else read from standard input).") var text: String?

    func run() async throws {
        let report = text ?? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
        let body = try await withClient(connection) { try await Diagnosis(client: $0).report(study, text: report) }
        print(String(decoding: body, as: UTF8.self))
    }
}
