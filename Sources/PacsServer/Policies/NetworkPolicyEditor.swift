import Foundation

/// Edits the `remote_aes:` list of `network.yaml` as text, so the admin's comments and layout elsewhere
/// stay as they were; the result is validated with the rest of the folder before it replaces the file.
public struct NetworkPolicyEditor {
    public enum Problem: Error, CustomStringConvertible {
        case exists(String)
        case unknown(String)
        case noList
        case invalid(String)

        public var description: String {
            switch self {
            case let .exists(title): return "\(title) is already in network.yaml: remove it first"
            case let .unknown(title): return "\(title) is not in network.yaml"
            case .noList: return "network.yaml has no `remote_aes:` list to edit"
            case let .invalid(errors): return "the edit would make the policies invalid, nothing was changed:\n\(errors)"
            }
        }
    }

    public let folder: URL
    private var file: URL { folder.appendingPathComponent("network.yaml") }

    public init(folder: URL) {
        self.folder = folder
    }

    public func add(_ remote: RemoteAE) throws {
        var lines = try read()
        guard let (start, end) = block(in: lines) else { throw Problem.noList }
        if item(named: remote.title, in: lines, start, end) != nil { throw Problem.exists(remote.title) }
        if lines[start].contains("[]") { lines[start] = lines[start].replacingOccurrences(of: "[]", with: "") }
        var entry = ["  - title: \(remote.title)", "    host: \(remote.host)", "    port: \(remote.port)", "    role: \(remote.role.rawValue)"]
        if let version = remote.version { entry.append("    version: \(version)") }
        lines.insert(contentsOf: entry, at: end)
        try write(lines)
    }

    public func remove(_ title: String) throws {
        var lines = try read()
        guard let (start, end) = block(in: lines) else { throw Problem.noList }
        guard let range = item(named: title, in: lines, start, end) else { throw Problem.unknown(title) }
        lines.removeSubrange(range)
        try write(lines)
    }

    private func read() throws -> [String] {
        try String(contentsOf: file, encoding: .utf8).components(separatedBy: "\n")
    }

    /// The `remote_aes:` line and the index just past its last item line.
    private func block(in lines: [String]) -> (Int, Int)? {
        guard let start = lines.firstIndex(where: { $0.hasPrefix("remote_aes:") }) else { return nil }
        var end = start + 1
        var lastItemLine = start
        while end < lines.count {
            let line = lines[end]
            if !line.isEmpty, !line.hasPrefix(" "), !line.hasPrefix("#") { break }
            if line.hasPrefix(" ") { lastItemLine = end }
            end += 1
        }
        return (start, lastItemLine + 1)
    }

    /// The lines of the item whose title is `title`.
    private func item(named title: String, in lines: [String], _ start: Int, _ end: Int) -> Range<Int>? {
        let starts = (start + 1..<end).filter { lines[$0].trimmingCharacters(in: .whitespaces).hasPrefix("- ") }
        for (n, first) in starts.enumerated() {
            let stop = n + 1 < starts.count ? starts[n + 1] : end
            let titled = (first..<stop).contains { index in
                let text = lines[index].trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "- ", with: "")
                let value = text.hasPrefix("title:") ? text.dropFirst(6).split(separator: "#").first?.trimmingCharacters(in: .whitespaces) : nil
                return value == title
            }
            if titled { return first..<stop }
        }
        return nil
    }

    /// Validates the edited folder in a scratch copy, then replaces network.yaml atomically.
    private func write(_ lines: [String]) throws {
        let text = lines.joined(separator: "\n")
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("strata-policy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        for name in Policies.fileNames where name != "network.yaml" {
            try FileManager.default.copyItem(at: folder.appendingPathComponent(name), to: scratch.appendingPathComponent(name))
        }
        try text.write(to: scratch.appendingPathComponent("network.yaml"), atomically: true, encoding: .utf8)
        if case let .failure(errors) = Policies.load(from: scratch) {
            throw Problem.invalid(errors.description.replacingOccurrences(of: scratch.path, with: folder.path))
        }
        try text.write(to: file, atomically: true, encoding: .utf8)
    }
}
