import Foundation

/// The workstation's local cache: one folder per instance and version, a data file per frame holding the
/// bytes received so far and a small JSON manifest beside it. The manifest is written after the data, so
/// after a crash it never claims bytes the data file lacks. Least recently used frames leave first when
/// the cache passes its size limit.
public final class FrameCache: Sendable {
    public let root: URL
    public let limit: Int64

    public init(root: URL, limit: Int64) throws {
        self.root = root
        self.limit = limit
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    private func folder(_ sop: String, _ version: String) -> URL {
        root.appendingPathComponent(sop).appendingPathComponent(version)
    }

    private func dataURL(_ sop: String, _ version: String, _ frame: Int) -> URL {
        folder(sop, version).appendingPathComponent("\(frame).bin")
    }

    private func manifestURL(_ sop: String, _ version: String, _ frame: Int) -> URL {
        folder(sop, version).appendingPathComponent("\(frame).json")
    }

    public func entry(_ sop: String, version: String, frame: Int) -> CachedFrame? {
        guard let data = try? Data(contentsOf: manifestURL(sop, version, frame)),
              let entry = try? JSONDecoder().decode(CachedFrame.self, from: data) else { return nil }
        // A data file shorter than the manifest says (a crash between the two) is not trusted.
        let size = (try? FileManager.default.attributesOfItem(atPath: dataURL(sop, version, frame).path)[.size] as? Int) ?? 0
        return size >= entry.heldBytes ? entry : nil
    }

    /// Every held frame of an instance, any version.
    public func entries(_ sop: String) -> [CachedFrame] {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(sop).path)) ?? []
        return versions.flatMap { version -> [CachedFrame] in
            let files = (try? FileManager.default.contentsOfDirectory(atPath: folder(sop, version).path)) ?? []
            return files.filter { $0.hasSuffix(".json") }.compactMap { Int($0.dropLast(5)) }.compactMap { entry(sop, version: version, frame: $0) }
        }
    }

    public func bytes(_ entry: CachedFrame) throws -> [UInt8] {
        let url = dataURL(entry.sopInstanceUID, entry.version, entry.frame)
        touch(entry)
        return Array(try Data(contentsOf: url).prefix(entry.heldBytes))
    }

    /// Replaces what is held of a frame.
    public func store(_ entry: CachedFrame, bytes: [UInt8]) throws {
        try FileManager.default.createDirectory(at: folder(entry.sopInstanceUID, entry.version), withIntermediateDirectories: true)
        try Data(bytes).write(to: dataURL(entry.sopInstanceUID, entry.version, entry.frame), options: .atomic)
        try writeManifest(entry)
    }

    /// Adds the bytes of the next level to what is held.
    public func append(_ entry: CachedFrame, bytes: [UInt8], to held: CachedFrame) throws {
        let url = dataURL(entry.sopInstanceUID, entry.version, entry.frame)
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        try handle.truncate(atOffset: UInt64(held.heldBytes))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(bytes))
        try writeManifest(entry)
    }

    private func writeManifest(_ entry: CachedFrame) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        try encoder.encode(entry).write(to: manifestURL(entry.sopInstanceUID, entry.version, entry.frame), options: .atomic)
    }

    /// Marks a frame as just used.
    func touch(_ entry: CachedFrame) {
        try? FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: manifestURL(entry.sopInstanceUID, entry.version, entry.frame).path)
    }

    /// The link rate (bits per second) the last sizeable pull measured, declared to the server's delivery policy.
    public var measuredLinkRate: Double? {
        (try? String(contentsOf: root.appendingPathComponent("link-rate"), encoding: .utf8)).flatMap { Double($0) }
    }

    /// Keeps the rate of a pull that moved enough bytes to say something about the link.
    func measured(bytes: Int, seconds: Double) {
        guard bytes >= 256 << 10, seconds > 0 else { return }
        try? String(Double(bytes * 8) / seconds).write(to: root.appendingPathComponent("link-rate"), atomically: true, encoding: .utf8)
    }

    /// Bytes the cache holds.
    public func size() -> Int64 {
        frames().reduce(0) { $0 + $1.size }
    }

    private func frames() -> [(manifest: URL, data: URL, size: Int64, used: Date)] {
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.contentModificationDateKey, .fileSizeKey]) else { return [] }
        var found: [(URL, URL, Int64, Date)] = []
        // Frames only (`<frame>.json` beside `<frame>.bin`): an instance's render parameters stay while it is cached.
        for case let url as URL in walker where url.pathExtension == "json" && Int(url.deletingPathExtension().lastPathComponent) != nil {
            let data = url.deletingPathExtension().appendingPathExtension("bin")
            let size = (try? data.resourceValues(forKeys: [.fileSizeKey]).fileSize).flatMap { $0 } ?? 0
            let used = (try? url.resourceValues(forKeys: [.contentModificationDateKey]).contentModificationDate).flatMap { $0 } ?? .distantPast
            found.append((url, data, Int64(size), used))
        }
        return found
    }

    /// Removes least recently used frames until the cache is within its limit; returns how many left.
    @discardableResult
    public func evict() -> Int {
        var all = frames().sorted { $0.used < $1.used }
        var total = all.reduce(0) { $0 + $1.size }
        var removed = 0
        while total > limit, !all.isEmpty {
            let oldest = all.removeFirst()
            try? FileManager.default.removeItem(at: oldest.manifest)
            try? FileManager.default.removeItem(at: oldest.data)
            total -= oldest.size
            removed += 1
        }
        return removed
    }
}
