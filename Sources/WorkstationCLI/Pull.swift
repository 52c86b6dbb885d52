import ArgumentParser
import Codecs
import CommandLineSupport
import Foundation
import Workstation

struct Pull: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pull a study or series progressively: every image coarse first, then finer levels, only the bytes each level adds.")
    @OptionGroup var connection: Connection
    @OptionGroup var cacheOptions: CacheOptions
    @Argument(help: "The Study Instance UID (or give --series).") var study: String?
    @Option(help: "A Series Instance UID.") var series: String?
    @Option(help: "V1, V2 or V3.") var version: String?
    @Option(help: "The smallest version with at least this quality (percent).") var quality: Int?
    @Option(help: "diagnosis, reference or comparison.") var purpose: String?
    @Option(help: "Up to this resolution level (0 is the smallest).") var level: Int?
    @Option(help: "Up to the smallest level covering a display of this many pixels.") var display: Int?
    @Option(help: "Where you are, for the server's delivery policy: reading_room, ward, icu, er, office, home, remote.") var place: String?
    @Flag(help: "Print the report as JSON.") var json = false

    func run() async throws {
        guard study != nil || series != nil else { throw ValidationError("name a study or give --series") }
        let cache = try cacheOptions.open()
        let request = PullRequest(study: study, series: series, version: version, quality: quality, purpose: purpose, level: level, display: display, place: place)
        let bar = Terminal.Progress()
        let report = try await withClient(connection) { client in
            try await Puller(client: client, cache: cache).pull(request) { bar.draw($0) }
        }
        bar.finish()
        cache.evict()
        if json { return print(String(decoding: try Terminal.jsonEncoder.encode(report), as: UTF8.self)) }
        print("pulled \(report.frames) images as \(report.version) (\(report.rule))\(report.finestLevel.map { " up to level \($0)" } ?? ""): "
              + "\(report.bytesDownloaded) bytes in \(String(format: "%.2f", report.seconds)) s; \(report.alreadyHeld) already held")
    }
}
