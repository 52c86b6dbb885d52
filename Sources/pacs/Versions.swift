import ArgumentParser
import Foundation
import PacsServer

struct Versions: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List an instance's versions with their parameters, and why any is missing.")

    @OptionGroup var global: GlobalOptions

    @Argument(help: "The SOP Instance UID.") var sopInstanceUID: String

    @Flag(help: "Print JSON.") var json = false

    struct Listing: Encodable {
        var sopInstanceUID: String
        var versions: [StoredFile]
        var missing: [String: String]
    }

    func run() throws {
        let store = try global.openStore(policies: try global.loadPolicies(), recover: false)
        let files = try store.index.files(sopInstanceUID: sopInstanceUID)
        guard !files.isEmpty else { throw CLIError("no instance \(sopInstanceUID) in the index") }
        let listing = Listing(sopInstanceUID: sopInstanceUID, versions: files, missing: try store.index.missingVersions(sopInstanceUID: sopInstanceUID))
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            Output.line(String(decoding: try encoder.encode(listing), as: UTF8.self))
            return
        }
        for file in files {
            var parts = ["\(file.version)/\(file.variant)", file.purpose ?? "diagnosis", "quality \(file.quality ?? 100)%",
                         "\(file.size) bytes", "tier \(file.tier)", file.transferSyntaxUID]
            if let ratio = file.achievedRatio { parts.append(String(format: "ratio %.2f:1", ratio) + (file.targetRatio.map { String(format: " (target %.0f)", $0) } ?? "")) }
            if let psnr = file.psnr { parts.append(String(format: "PSNR %.1f dB, max error %d", psnr, file.maxError ?? 0)) }
            if let levels = file.frames?.first?.levelSizes { parts.append("\(levels.count) levels (\(levels.map { "\($0[0])x\($0[1])" }.joined(separator: ", ")))") }
            Output.line(parts.joined(separator: "  "))
        }
        for (name, reason) in listing.missing.sorted(by: { $0.key < $1.key }) { Output.line("\(name) missing: \(reason)") }
    }
}
