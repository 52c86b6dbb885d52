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
        /// pending, running or done.
        var derivation: String
        var versions: [StoredFile]
        var missing: [String: String]
    }

    func run() throws {
        let policies = try global.loadPolicies()
        let store = try global.openStore(policies: policies, recover: false)
        let files = try store.index.files(sopInstanceUID: sopInstanceUID)
        guard !files.isEmpty else { throw CLIError("no instance \(sopInstanceUID) in the index") }
        let derivation = try store.index.derivation(sopInstanceUID: sopInstanceUID)
        var missing = derivation.missing
        if derivation.state != "done" {
            // Versions not made yet are missing for now: say so rather than show nothing.
            let compression = policies.current.compression
            let expected = (compression.losslessCopy ? ["V1"] : []) + compression.versions.map(\.name)
            for name in expected where !files.contains(where: { $0.version == name && $0.variant != "original" }) {
                missing[name] = "queued for derivation (\(derivation.state))"
            }
        }
        let listing = Listing(sopInstanceUID: sopInstanceUID, derivation: derivation.state, versions: files, missing: missing)
        if json {
            try Output.json(listing)
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
        for (name, reason) in listing.missing.sorted(by: { $0.key < $1.key }) { Output.line("\(name) not made: \(reason)") }
    }
}
