import Foundation

/// Edits one list of a policy file as text (`remote_aes:` of network.yaml, `users:` of users.yaml), so the
/// admin's comments and layout elsewhere stay as they were; the result is validated with the rest of the
/// folder before it replaces the file.
public struct PolicyListEditor {
    public enum Problem: Error, CustomStringConvertible {
        case exists(String)
        case unknown(String)
        case noList
        case invalid(String)

        public var description: String {
            switch self {
            case let .exists(name): return "\(name) is already listed: remove it first"
            case let .unknown(name): return "\(name) is not listed"
            case .noList: return "the policy file has no list to edit"
            case let .invalid(errors): return "the edit would make the policies invalid, nothing was changed:\n\(errors)"
            }
        }
    }

    public let folder: URL
    let fileName: String
    /// The top-level key of the list, and the key that names its items.
    let listKey: String
    let nameKey: String
    private var file: URL { folder.appendingPathComponent(fileName) }

    public static func remoteAEs(in folder: URL) -> PolicyListEditor {
        PolicyListEditor(folder: folder, fileName: "network.yaml", listKey: "remote_aes", nameKey: "title")
    }

    public static func users(in folder: URL) -> PolicyListEditor {
        PolicyListEditor(folder: folder, fileName: "users.yaml", listKey: "users", nameKey: "name")
    }

    /// Appends an item given as ordered (key, value) pairs, the first being its name.
    public func add(_ fields: [(String, String)]) throws {
        var lines = try read()
        guard let (start, end) = block(in: lines), let name = fields.first?.1 else { throw Problem.noList }
        if item(named: name, in: lines, start, end) != nil { throw Problem.exists(name) }
        if lines[start].contains("[]") { lines[start] = lines[start].replacingOccurrences(of: "[]", with: "") }
        let entry = fields.enumerated().map { index, field in "\(index == 0 ? "  - " : "    ")\(field.0): \(field.1)" }
        lines.insert(contentsOf: entry, at: end)
        try write(lines)
    }

    public func remove(_ name: String) throws {
        var lines = try read()
        guard let (start, end) = block(in: lines) else { throw Problem.noList }
        guard let range = item(named: name, in: lines, start, end) else { throw Problem.unknown(name) }
        lines.removeSubrange(range)
        try write(lines)
    }

    private func read() throws -> [String] {
        try String(contentsOf: file, encoding: .utf8).components(separatedBy: "\n")
    }

    /// The list's line and the index just past its last item line.
    private func block(in lines: [String]) -> (Int, Int)? {
        guard let start = lines.firstIndex(where: { $0.hasPrefix("\(listKey):") }) else { return nil }
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

    /// The lines of the item whose name is `title`.
    private func item(named title: String, in lines: [String], _ start: Int, _ end: Int) -> Range<Int>? {
        let starts = (start + 1..<end).filter { lines[$0].trimmingCharacters(in: .whitespaces).hasPrefix("- ") }
        for (n, first) in starts.enumerated() {
            let stop = n + 1 < starts.count ? starts[n + 1] : end
            let titled = (first..<stop).contains { index in
                let text = lines[index].trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "- ", with: "")
                let value = text.hasPrefix("\(nameKey):")
                    ? text.dropFirst(nameKey.count + 1).split(separator: "#").first?.trimmingCharacters(in: .whitespaces) : nil
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
        for name in Policies.fileNames where name != fileName {
            try FileManager.default.copyItem(at: folder.appendingPathComponent(name), to: scratch.appendingPathComponent(name))
        }
        try text.write(to: scratch.appendingPathComponent(fileName), atomically: true, encoding: .utf8)
        if case let .failure(errors) = Policies.load(from: scratch) {
            throw Problem.invalid(errors.description.replacingOccurrences(of: scratch.path, with: folder.path))
        }
        try text.write(to: file, atomically: true, encoding: .utf8)
    }
}
