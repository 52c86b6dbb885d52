import ArgumentParser
import Foundation
import PacsServer

struct List: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List studies, series or instances in the index.")

    enum Level: String, ExpressibleByArgument, CaseIterable {
        case studies, series, instances
    }

    @OptionGroup var global: GlobalOptions

    @Argument(help: "What to list: studies, series or instances.")
    var level: Level = .studies

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Option(name: .customLong("patient-id"), help: "Patient ID (wildcards * and ?).") var patientID: String?
    @Option(name: .customLong("patient-name"), help: "Patient name, case-insensitive, wildcards * and ?.") var patientName: String?
    @Option(help: "Study date or range: YYYYMMDD, YYYYMMDD-YYYYMMDD, YYYYMMDD-, -YYYYMMDD.") var date: String?
    @Option(help: "Modality, such as CT.") var modality: String?
    @Option(help: "Accession number.") var accession: String?
    @Option(help: "Study Instance UID.") var study: [String] = []
    @Option(help: "Series Instance UID.") var series: [String] = []

    func run() throws {
        let store = try global.openStore(policies: try global.loadPolicies(), recover: false)
        var query = IndexQuery()
        query.patientID = patientID
        query.patientName = patientName
        query.studyDate = date
        query.modality = modality
        query.accessionNumber = accession
        query.studyInstanceUIDs = study
        query.seriesInstanceUIDs = series
        switch level {
        case .studies:
            let rows = try store.index.studies(matching: query)
            try print(rows, json: json, header: ["Study Instance UID", "Patient ID", "Patient name", "Date", "Accession", "Modalities", "Series", "Images"]) {
                [$0.studyInstanceUID, $0.patientID, $0.patientName, $0.studyDate, $0.accessionNumber, $0.modalities.joined(separator: ","),
                 "\($0.seriesCount)", "\($0.instanceCount)"]
            }
        case .series:
            let rows = try store.index.series(matching: query)
            try print(rows, json: json, header: ["Series Instance UID", "Study Instance UID", "Modality", "Number", "Description", "Images"]) {
                [$0.seriesInstanceUID, $0.studyInstanceUID, $0.modality, $0.seriesNumber.map(String.init) ?? "", $0.seriesDescription, "\($0.instanceCount)"]
            }
        case .instances:
            let rows = try store.index.instances(matching: query)
            try print(rows, json: json, header: ["SOP Instance UID", "Number", "Transfer syntax", "Files"]) {
                [$0.sopInstanceUID, $0.instanceNumber.map(String.init) ?? "", $0.transferSyntaxUID,
                 $0.files.map { "\($0.version)/\($0.variant)@\($0.tier)" }.joined(separator: " ")]
            }
        }
    }

    private func print<Row: Encodable>(_ rows: [Row], json: Bool, header: [String], columns: (Row) -> [String]) throws {
        if json {
            try Output.json(rows)
            return
        }
        let table = [header] + rows.map(columns)
        let widths = header.indices.map { column in table.map { $0[column].count }.max() ?? 0 }
        for line in table {
            Output.line(zip(line, widths).map { $0.0.padding(toLength: $0.1, withPad: " ", startingAt: 0) }.joined(separator: "  "))
        }
    }
}
