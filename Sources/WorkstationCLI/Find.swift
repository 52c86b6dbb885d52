import ArgumentParser
import Codecs
import CommandLineSupport
import Workstation

struct Find: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Find studies: a table, or JSON.")
    @OptionGroup var connection: Connection
    @Option(help: "Patient ID.") var patient: String?
    @Option(help: "Patient name, with * and ? wildcards.") var name: String?
    @Option(help: "Study date or range: 20240101, 20240101-20241231.") var date: String?
    @Option(help: "Modality in the study, e.g. CT.") var modality: String?
    @Option(help: "Accession number.") var accession: String?
    @Flag(help: "Print the studies as JSON.") var json = false

    func run() async throws {
        let studies = try await withClient(connection) { client in
            try await StudyFinder(client: client).find(patientID: patient, name: name, date: date, modality: modality, accession: accession)
        }
        if json { return print(String(decoding: try Terminal.jsonEncoder.encode(studies), as: UTF8.self)) }
        let rows = studies.map { [$0.date, $0.patientName, $0.patientID, $0.accession, $0.modalities.joined(separator: ","), "\($0.instances)", $0.description, $0.study] }
        print(Terminal.table(header: ["date", "patient", "id", "accession", "modalities", "images", "description", "study"], rows: rows))
    }
}
