/// One fault in a policy file: where it is (file, line, key) and what to do about it.
public struct PolicyProblem: Error, Equatable, Sendable, CustomStringConvertible {
    public let file: String
    public let line: Int?
    public let key: String
    public let message: String

    public var description: String {
        "\(file)\(line.map { ":\($0)" } ?? ""): \(key.isEmpty ? "" : "\(key): ")\(message)"
    }
}

/// A policy folder that failed validation: every problem found, not just the first.
public struct PolicyErrors: Error, Sendable, CustomStringConvertible {
    public let problems: [PolicyProblem]
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
