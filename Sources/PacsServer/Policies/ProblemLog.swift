import Yams

/// Collects problems across the files of a policy folder.
final class ProblemLog {
    private(set) var problems: [PolicyProblem] = []

    func add(file: String, line: Int?, key: String, _ message: String) {
        problems.append(PolicyProblem(file: file, line: line, key: key, message: message))
    }
}
