import ArgumentParser
import Codecs
import CommandLineSupport
import Foundation
import Workstation

struct Render: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Render cached images to PNG at the best level held.")
    @OptionGroup var cacheOptions: CacheOptions
    @Argument(help: "SOP Instance UIDs (or give --series).") var instances: [String] = []
    @Option(help: "Every cached instance of this series (pulled before).") var series: String?
    @Option(help: "Folder for the PNG files.") var out: String
    @Option(help: "lung, mediastinum, bone, brain, or CENTER,WIDTH (default: the image's own).") var window: String?

    func run() async throws {
        let cache = try cacheOptions.open()
        let windowValue = try window.map { text -> Renderer.Window in
            guard let value = Renderer.Window(text: text) else { throw ValidationError("--window: lung, mediastinum, bone, brain or C,W") }
            return value
        }
        var sops = instances
        if let series { sops += cache.instances(inSeries: series) }
        guard !sops.isEmpty else { throw ValidationError("name SOP Instance UIDs or a pulled --series") }
        let folder = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for sop in sops {
            do {
                let (png, entry) = try ImageRendering.png(sop, cache: cache, window: windowValue)
                try Data(png).write(to: folder.appendingPathComponent("\(sop).png"))
                print("\(sop).png  \(entry.version)\(entry.level.map { " level \($0)" } ?? "")\(entry.width.map { " \($0)x\(entry.height ?? 0)" } ?? "")")
            } catch let problem as ImageRendering.Problem {
                Terminal.error(problem.description)
                throw ExitCode(1)
            }
        }
    }
}
