import ArgumentParser
import DICOM
import Foundation

struct Dump: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a DICOM file's dataset, readable or as DICOM JSON.")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Print DICOM JSON (PS3.18 F.2) of the dataset, binary values inline.")
    var json = false

    @Argument(help: "The file.")
    var file: String

    func run() throws {
        let parsed: DicomFile
        do {
            parsed = try DicomFile.read(contentsOf: URL(fileURLWithPath: file))
        } catch {
            throw CLIError("\(file): \(error)")
        }
        if json {
            Output.line(DICOMJSONEncoder().encode(parsed.dataSet))
        } else {
            Output.line("# \(parsed.transferSyntax)")
            Output.line(parsed.meta.description)
            Output.line(parsed.dataSet.description)
        }
    }
}
