import ArgumentParser
import CommandLineSupport
import Codecs
import Foundation
import Workstation

@main
struct WorkstationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workstation", abstract: "The Strata reading client.",
        subcommands: [Settings.self, Find.self, Pull.self, Render.self, Status.self, Notes.self, Annotate.self, Report.self, Watch.self])
}

/// Where the server is and who asks; the password from a flag, the environment, the config file, or asked
/// for on the terminal without echo.
struct Connection: ParsableArguments {
    @Option(help: "Server URL (else $STRATA_URL, else ~/.config/strata/workstation.conf).") var url: String?
    @Option(help: "User name (else $STRATA_USER).") var user: String?
    @Option(help: "Password (else $STRATA_PASSWORD or the config file; asked for on a terminal).") var password: String?
    @Option(help: "Throttle downloads, e.g. 2mbit.") var rate: String?

    func client() throws -> StrataClient {
        var settings: ClientSettings
        do {
            settings = try ClientSettings.resolve(url: url, user: user, password: password)
        } catch {
            throw ValidationError(error.description)
        }
        if settings.user != nil, settings.password == nil, isatty(STDIN_FILENO) == 1 {
            settings.password = Secret.read(prompt: "password for \(settings.user!): ")
        }
        let limiter = try rate.map { text -> RateLimiter? in
            guard let bits = RateLimiter.bitsPerSecond(text) else { throw ValidationError("--rate: \(text) is not a rate such as 2mbit") }
            return RateLimiter(bitsPerSecond: bits)
        } ?? nil
        return StrataClient(settings: settings, limiter: limiter)
    }
}

/// The local cache's place and size.
struct CacheOptions: ParsableArguments {
    @Option(help: "Cache folder (default ~/.cache/strata/workstation).") var cache: String?
    @Option(name: .customLong("cache-limit"), help: "Cache size limit, e.g. 5GB (least recently used frames leave first).") var cacheLimit = "5GB"

    func open() throws -> FrameCache {
        guard let limit = Terminal.bytes(cacheLimit) else { throw ValidationError("--cache-limit: \(cacheLimit) is not a size such as 5GB") }
        return try FrameCache(root: cache.map { URL(fileURLWithPath: $0) } ?? FrameCache.defaultRoot(), limit: limit)
    }
}

/// Runs a command against the server, closing the client and turning failures into one-line errors.
func withClient<T>(_ connection: Connection, _ body: (StrataClient) async throws -> T) async throws -> T {
    let client = try connection.client()
    do {
        let result = try await body(client)
        await client.shutdown()
        return result
    } catch let error as ClientError {
        await client.shutdown()
        Terminal.error(error.description)
        throw ExitCode(error.status == 403 ? 3 : 1)
    } catch {
        await client.shutdown()
        throw error
    }
}

struct Settings: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show which server and user the client would use (never the password).")
    @Option(help: "Server URL (else $STRATA_URL, else ~/.config/strata/workstation.conf).") var url: String?
    @Option(help: "User name (else $STRATA_USER).") var user: String?

    func run() async throws {
        do {
            let settings = try ClientSettings.resolve(url: url, user: user, password: nil)
            print("server: \(settings.url.absoluteString)")
            print("user: \(settings.user ?? "(none)")")
            print("password: \(settings.password == nil ? "not set" : "set")")
        } catch {
            throw ValidationError(error.description)
        }
    }
}

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

struct Notes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a study's notes, annotations and report, or add a reading note.")
    @OptionGroup var connection: Connection
    @Argument(help: "The Study Instance UID.") var study: String
    @Option(help: "Add this note.") var add: String?
    @Flag(help: "Every revision, not only the latest.") var history = false

    func run() async throws {
        let body = try await withClient(connection) { client in
            let diagnosis = Diagnosis(client: client)
            if let add { return try await diagnosis.addNote(study, text: add) }
            return try await diagnosis.diagnostic(study, history: history)
        }
        print(String(decoding: body, as: UTF8.self))
    }
}

struct Annotate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Attach an annotation to an image: shapes point:X,Y  line:X1,Y1,X2,Y2  ellipse:CX,CY,RX,RY  text:X,Y,words (image pixels).")
    @OptionGroup var connection: Connection
    @Argument(help: "The Study Instance UID.") var study: String
    @Option(help: "The SOP Instance UID of the image.") var instance: String
    @Option(help: "The frame (multi-frame images).") var frame: Int?
    @Argument(help: "The shapes.") var shapes: [String]

    func run() async throws {
        let parsed = try shapes.map { text -> [String: Any] in
            guard let shape = Diagnosis.shape(text) else { throw ValidationError("\(text) is not a shape (point:X,Y, line:..., ellipse:CX,CY,RX,RY, text:X,Y,words)") }
            return shape
        }
        let body = try await withClient(connection) { try await Diagnosis(client: $0).annotate(study, instance: instance, frame: frame, shapes: parsed) }
        print(String(decoding: body, as: UTF8.self))
    }
}

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
