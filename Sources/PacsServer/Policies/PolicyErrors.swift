/// A policy folder that failed validation: every problem found, not just the first.
public struct PolicyErrors: Error, Sendable, CustomStringConvertible {
    public let problems: [PolicyProblem]
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
