import Foundation

/// Pulls a study or series progressively: first the smallest level of every image, then each finer level
/// for all of them, fetching for each level only the bytes it adds (HTTP Range). Everything received is
/// kept in the cache at once, so an interrupted pull resumes where it stopped and a partial pull is viewable.
public struct Puller: Sendable {
    let client: StrataClient
    let cache: FrameCache

    public init(client: StrataClient, cache: FrameCache) {
        self.client = client
        self.cache = cache
    }

    struct Listing: Decodable {
        struct Instance: Decodable {
            var sopInstanceUid: String
            var frames: Int
        }
        var study: String
        var instances: [Instance]
    }

    /// A frame to pull, and the level it should reach.
    struct Target {
        var sop: String
        var frame: Int
        var level: Int?
    }

    public func pull(_ request: PullRequest, progress: @Sendable (PullProgress) -> Void = { _ in }) async throws -> PullReport {
        let started = Date()
        let before = client.received.value
        var frames: [(sop: String, frame: Int, series: String)] = []
        for series in try await seriesList(request) {
            let listing = try await client.json(Listing.self, .GET, "/api/v1/series/\(series)/versions")
            if listing.instances.contains(where: { cache.parameters($0.sopInstanceUid) == nil }) {
                try await keepParameters(study: listing.study, series: series)
            }
            for instance in listing.instances {
                for frame in 1...max(1, instance.frames) { frames.append((instance.sopInstanceUid, frame, series)) }
            }
        }
        guard let first = frames.first else { throw ClientError.protocolError("nothing to pull") }

        // Ask the server which version (and, without --level, which level) this request gets, telling it the
        // link rate the last pull measured.
        var probePath = "/api/v1/instances/\(first.sop)/frames/\(first.frame)?\(request.selector)"
        if let level = request.level { probePath += "&level=\(level)" }
        if let rate = cache.measuredLinkRate { probePath += "&link=\(Int(rate))" }
        let probe = try await client.request(.GET, probePath, headers: [("Range", "bytes=0-0")])
        guard let version = probe.header("X-Strata-Version") else { throw ClientError.protocolError("the server did not say which version it sends") }
        let rule = probe.header("X-Strata-Delivery-Rule") ?? ""
        var report = PullReport(version: version, rule: rule, frames: frames.count, finestLevel: nil, bytesDownloaded: 0, seconds: 0,
                                levelSeconds: [], alreadyHeld: 0)
        let levelsOfFirst = probe.header("X-Strata-Levels").flatMap(Int.init)
        let chosen = probe.header("X-Strata-Level").flatMap(Int.init)
        report.alreadyHeld = frames.filter { cache.entry($0.sop, version: version, frame: $0.frame)?.complete == true }.count

        guard let levels = levelsOfFirst, let chosen else {
            // No resolution levels (V1): each frame whole, skipping those held.
            try await pullWhole(frames.map { ($0.sop, $0.frame) }, version: version, progress: progress, started: started)
            report.bytesDownloaded = client.received.value - before
            report.seconds = Date().timeIntervalSince(started)
            report.levelSeconds = [report.seconds]
            return report
        }
        let finest = min(chosen, levels - 1)
        report.finestLevel = finest

        for level in 0...finest {
            let wanted = frames.filter { frame in (cache.entry(frame.sop, version: version, frame: frame.frame)?.level ?? -1) < level }
            if level == 0, wanted.count > 1, wanted.count == frames.count {
                // Nothing held yet: the whole series' smallest level in one streamed response per series.
                for series in Set(frames.map(\.series)).sorted() {
                    try await pullSeriesLevel0(series, version: version, finest: finest, progress: { done in
                        progress(PullProgress(frames: frames.count, done: done, level: 0, finestLevel: finest,
                                              bytes: client.received.value - before, seconds: Date().timeIntervalSince(started)))
                    })
                }
            } else {
                for (done, frame) in wanted.enumerated() {
                    try await refine(frame.sop, frame: frame.frame, version: version, to: level, finest: finest)
                    progress(PullProgress(frames: frames.count, done: frames.count - wanted.count + done + 1, level: level, finestLevel: finest,
                                          bytes: client.received.value - before, seconds: Date().timeIntervalSince(started)))
                }
            }
            report.levelSeconds.append(Date().timeIntervalSince(started))
        }
        report.bytesDownloaded = client.received.value - before
        report.seconds = Date().timeIntervalSince(started)
        cache.measured(bytes: report.bytesDownloaded, seconds: report.seconds)
        return report
    }

    private func seriesList(_ request: PullRequest) async throws -> [String] {
        if let series = request.series { return [series] }
        guard let study = request.study else { throw ClientError.protocolError("name a study or a series") }
        let response = try await client.request(.GET, "/dicom-web/studies/\(study)/series", headers: [("Accept", "application/dicom+json")])
        guard let rows = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [[String: Any]] else { return [] }
        return rows.compactMap { (($0["0020000E"] as? [String: Any])?["Value"] as? [String])?.first }
    }

    /// What rendering needs of each instance's header, from the series' WADO-RS metadata.
    private func keepParameters(study: String, series: String) async throws {
        let response = try await client.request(.GET, "/dicom-web/studies/\(study)/series/\(series)/metadata", headers: [("Accept", "application/dicom+json")])
        for json in (try? JSONSerialization.jsonObject(with: Data(response.body)) as? [[String: Any]]) ?? [] {
            guard let sop = ((json["00080018"] as? [String: Any])?["Value"] as? [String])?.first, let parameters = ImageParameters(json: json) else { continue }
            try cache.storeParameters(parameters, sop: sop)
        }
    }

    /// Level 0 of every frame of a series, one multipart response, each part cached as it arrives.
    private func pullSeriesLevel0(_ series: String, version: String, finest: Int, progress: (Int) -> Void) async throws {
        var parser: MultipartStream?
        var done = 0
        try await client.stream(.GET, "/api/v1/series/\(series)/frames?version=\(version)&level=0", onHead: { _, headers in
            guard let boundary = MultipartStream.boundary(of: headers.first(name: "Content-Type") ?? "") else {
                throw ClientError.protocolError("the series frames answer is not multipart")
            }
            parser = MultipartStream(boundary: boundary)
        }) { piece in
            for part in parser?.feed(Array(buffer: piece)) ?? [] {
                guard let location = part.headers["content-location"], let (sop, frame) = Self.frameLocation(location) else { continue }
                try keep(part.body, sop: sop, frame: frame, version: version, headers: part.headers, finest: finest)
                done += 1
                progress(done)
            }
        }
    }

    /// Brings one frame to `level`: the bytes the level adds to what is held (a Range from the held end),
    /// or the whole level when nothing usable is held.
    private func refine(_ sop: String, frame: Int, version: String, to level: Int, finest: Int) async throws {
        let path = "/api/v1/instances/\(sop)/frames/\(frame)?version=\(version)&level=\(level)"
        let held = cache.entry(sop, version: version, frame: frame)
        var headers: [(String, String)] = []
        if let held, held.heldBytes > 0 { headers.append(("Range", "bytes=\(held.heldBytes)-")) }
        let response = try await client.request(.GET, path, headers: headers)
        var lower: [String: String] = [:]
        for header in response.headers { lower[header.name.lowercased()] = header.value }
        // The continuation must belong to the same codestream as what is held (the ETag names the file).
        if response.status == 206, let held, Self.codestreamTag(lower["etag"]) == Self.codestreamTag(held.etag) {
            var entry = try Self.entry(sop: sop, frame: frame, version: version, headers: lower, heldBytes: held.heldBytes + response.body.count - 2)
            entry.complete = (entry.level ?? 0) >= finest
            try cache.append(entry, bytes: Array(response.body.dropLast(2)), to: held)
        } else if response.status == 206 {
            try cache.store(Self.entry(sop: sop, frame: frame, version: version, headers: lower, heldBytes: 0), bytes: [])
            return try await refine(sop, frame: frame, version: version, to: level, finest: finest)
        } else {
            try keep(response.body, sop: sop, frame: frame, version: version, headers: lower, finest: finest)
        }
    }

    /// Caches a whole level's body (the codestream prefix and its closing EOC marker, which is not kept).
    private func keep(_ body: [UInt8], sop: String, frame: Int, version: String, headers: [String: String], finest: Int) throws {
        var entry = try Self.entry(sop: sop, frame: frame, version: version, headers: headers, heldBytes: max(0, body.count - 2))
        entry.complete = (entry.level ?? 0) >= finest
        try cache.store(entry, bytes: Array(body.dropLast(2)))
    }

    /// Frames without levels (V1), whole; those held are skipped.
    private func pullWhole(_ frames: [(String, Int)], version: String, progress: (PullProgress) -> Void, started: Date) async throws {
        for (done, (sop, frame)) in frames.enumerated() {
            if cache.entry(sop, version: version, frame: frame)?.complete == true { continue }
            let response = try await client.request(.GET, "/api/v1/instances/\(sop)/frames/\(frame)?version=\(version)",
                                                    headers: [("Accept", "image/jls, application/octet-stream;q=0.5")])
            let entry = CachedFrame(sopInstanceUID: sop, frame: frame, version: version,
                                    mediaType: response.header("Content-Type") ?? "application/octet-stream", etag: response.header("ETag") ?? "",
                                    level: nil, levels: nil, width: nil, height: nil, heldBytes: response.body.count, complete: true)
            try cache.store(entry, bytes: response.body)
            progress(PullProgress(frames: frames.count, done: done + 1, level: 0, finestLevel: 0, bytes: client.received.value, seconds: Date().timeIntervalSince(started)))
        }
    }

    static func entry(sop: String, frame: Int, version: String, headers: [String: String], heldBytes: Int) throws -> CachedFrame {
        let size = headers["x-strata-level-size"]?.split(separator: "x").compactMap { Int($0) }
        return CachedFrame(sopInstanceUID: sop, frame: frame, version: version, mediaType: headers["content-type"] ?? "image/j2c",
                           etag: headers["etag"] ?? "", level: headers["x-strata-level"].flatMap { Int($0) },
                           levels: headers["x-strata-levels"].flatMap { Int($0) }, width: size?.first, height: size?.last,
                           heldBytes: heldBytes, complete: false)
    }

    /// `"sha-frame-level"` without its level: the same codestream at any level.
    static func codestreamTag(_ etag: String?) -> String {
        guard let etag else { return "" }
        return etag.split(separator: "-").prefix(2).joined(separator: "-")
    }

    /// `/api/v1/instances/{sop}/frames/{n}`.
    static func frameLocation(_ location: String) -> (String, Int)? {
        let parts = location.split(separator: "?")[0].split(separator: "/")
        guard let index = parts.firstIndex(of: "instances"), parts.count > index + 3, let frame = Int(parts[index + 3]) else { return nil }
        return (String(parts[index + 1]), frame)
    }
}
