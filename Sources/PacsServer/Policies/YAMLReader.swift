import Yams

/// Walks a YAML mapping, reading typed values and recording every problem with its file, line and key.
/// Keys that are read are remembered, so `finish()` can report the ones nobody asked for (typos).
final class YAMLReader {
    let file: String
    let path: String
    private let node: Node?
    private let report: ProblemLog
    private var pairs: [(key: String, value: Node)] = []
    private var used: Set<String> = []

    /// Parses a whole file; a syntax error becomes a problem and an empty reader.
    convenience init(file: String, text: String, report: ProblemLog) {
        do {
            let node = try Yams.compose(yaml: text)
            self.init(file: file, path: "", node: node ?? Node.mapping(Node.Mapping([])), report: report)
        } catch let error as YamlError {
            report.add(file: file, line: Self.line(of: error), key: "", "is not valid YAML: \(error)")
            self.init(file: file, path: "", node: nil, report: report)
        } catch {
            report.add(file: file, line: nil, key: "", "could not be read: \(error)")
            self.init(file: file, path: "", node: nil, report: report)
        }
    }

    init(file: String, path: String, node: Node?, report: ProblemLog) {
        self.file = file
        self.path = path
        self.node = node
        self.report = report
        guard let node else { return }
        guard case let .mapping(mapping) = node else {
            report.add(file: file, line: node.mark?.line, key: path, "expected a mapping of keys to values")
            return
        }
        for (key, value) in mapping {
            guard let name = key.string else {
                report.add(file: file, line: key.mark?.line, key: path, "keys must be plain text")
                continue
            }
            pairs.append((name, value))
        }
    }

    var line: Int? { node?.mark?.line }
    var keys: [String] { pairs.map(\.key) }

    /// Problems in a file that could not be parsed at all are not reported again key by key.
    func problem(_ key: String, _ message: String, at node: Node? = nil) {
        guard self.node != nil else { return }
        report.add(file: file, line: (node ?? self.value(key))?.mark?.line ?? line, key: keyPath(key), message)
    }

    func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func value(_ key: String) -> Node? {
        used.insert(key)
        return pairs.first { $0.key == key }?.value
    }

    func has(_ key: String) -> Bool { pairs.contains { $0.key == key } }

    func string(_ key: String, required: Bool = false) -> String? {
        guard let node = value(key) else {
            if required { problem(key, "is missing") }
            return nil
        }
        guard case let .scalar(scalar) = node else {
            problem(key, "expected text", at: node)
            return nil
        }
        return scalar.string
    }

    func bool(_ key: String, default fallback: Bool) -> Bool {
        guard let node = value(key) else { return fallback }
        guard let value = node.bool else {
            problem(key, "expected true or false, found \"\(node.string ?? "?")\"", at: node)
            return fallback
        }
        return value
    }

    func number(_ key: String, in range: ClosedRange<Double>, required: Bool = false, hint: String = "") -> Double? {
        guard let node = value(key) else {
            if required { problem(key, "is missing\(hint.isEmpty ? "" : " (\(hint))")") }
            return nil
        }
        guard let number = node.float, case .scalar = node else {
            problem(key, "expected a number, found \"\(node.string ?? "a structure")\"\(hint.isEmpty ? "" : " (\(hint))")", at: node)
            return nil
        }
        guard range.contains(number) else {
            problem(key, "\(Self.format(number)) is out of range: use \(Self.format(range.lowerBound)) to \(Self.format(range.upperBound))", at: node)
            return nil
        }
        return number
    }

    func mapping(_ key: String, required: Bool = false) -> YAMLReader? {
        guard let node = value(key) else {
            if required { problem(key, "is missing") }
            return nil
        }
        return YAMLReader(file: file, path: keyPath(key), node: node, report: report)
    }

    /// The items of a sequence value, each with its index for key paths.
    func list(_ key: String) -> [(path: String, node: Node)]? {
        guard let node = value(key) else { return nil }
        guard case let .sequence(sequence) = node else {
            problem(key, "expected a list", at: node)
            return nil
        }
        return sequence.enumerated().map { ("\(keyPath(key))[\($0.offset)]", $0.element) }
    }

    func strings(_ key: String) -> [String]? {
        guard let items = list(key) else { return nil }
        return items.compactMap { item in
            guard case let .scalar(scalar) = item.node else {
                report.add(file: file, line: item.node.mark?.line, key: item.path, "expected text")
                return nil
            }
            return scalar.string
        }
    }

    /// One name or a list of names (`role: reading` or `role: [reading, admin]`); empty when absent.
    func names(_ key: String) -> [String] {
        guard let node = value(key) else { return [] }
        if case let .scalar(scalar) = node { return [scalar.string] }
        return strings(key) ?? []
    }

    func reader(for item: (path: String, node: Node)) -> YAMLReader {
        YAMLReader(file: file, path: item.path, node: item.node, report: report)
    }

    /// Reports keys that were never read: almost always a typo the admin should hear about.
    func finish(allowed extra: [String] = []) {
        let known = used.union(extra)
        for (key, node) in pairs where !known.contains(key) {
            let choices = used.union(extra).sorted().joined(separator: ", ")
            report.add(file: file, line: node.mark?.line, key: keyPath(key), "unknown key\(choices.isEmpty ? "" : "; expected one of: \(choices)")")
        }
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }

    private static func line(of error: YamlError) -> Int? {
        switch error {
        case let .scanner(_, _, mark, _), let .parser(_, _, mark, _), let .composer(_, _, mark, _):
            return mark.line
        default:
            return nil
        }
    }
}
