import ArgumentParser
import Codecs
import CommandLineSupport
import Workstation

struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Listen for studies the server announces ready for this user, and pull each.")
    @OptionGroup var connection: Connection
    @OptionGroup var cacheOptions: CacheOptions
    @Option(help: "Up to this resolution level.") var level: Int?
    @Option(help: "Up to the level covering this display size.") var display: Int?
    @Option(help: "Stop after this many studies (default: run until interrupted).") var count: Int?

    func run() async throws {
        let cache = try cacheOptions.open()
        var pulled = 0
        do {
            try await watch(cache: cache) { pulled += 1; return count.map { pulled >= $0 } ?? false }
        } catch is CancellationError {
            return
        }
    }

    /// Pulls each announced study; `done` says after each whether to stop.
    private func watch(cache: FrameCache, done: @escaping () -> Bool) async throws {
        try await withClient(connection) { client in
            try await Watcher(client: client).listen { announcement in
                print("study \(announcement.study) ready (\(announcement.reason); may fetch \(announcement.allowed.joined(separator: ", ")))")
                let report = try await Puller(client: client, cache: cache).pull(PullRequest(study: announcement.study, level: level, display: display))
                cache.evict()
                print("pulled \(report.frames) images of \(announcement.study) as \(report.version): \(report.bytesDownloaded) bytes")
                if done() { throw CancellationError() }
            }
        }
    }
}
