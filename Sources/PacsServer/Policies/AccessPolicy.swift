/// Which versions each role may receive at each diagnosis status (`Policies/access.yaml`).
public struct AccessPolicy: Sendable, Equatable {
    public typealias Matrix = [DiagnosisStatus: Set<String>]

    /// The matrix for roles that have none of their own.
    public var defaultMatrix: Matrix
    /// Role-specific matrices; statuses a role does not list fall back to the default row.
    public var roles: [Role: Matrix]
    /// The statuses at which searches do not show a role a study at all (a study is shown unless listed here).
    public var hidden: [Role: Set<DiagnosisStatus>] = [:]

    /// Whether searches (QIDO-RS, C-FIND) show a study at this status to this role.
    public func isVisible(role: Role, status: DiagnosisStatus) -> Bool {
        !(hidden[role]?.contains(status) ?? false)
    }

    /// The one decision every retrieval asks for, with the rule that made it.
    public func decide(role: Role, status: DiagnosisStatus, version: String) -> AccessDecision {
        if let row = roles[role]?[status] {
            return AccessDecision(allowed: row.contains(version), rule: "access.yaml roles.\(role.rawValue).\(status.name)")
        }
        let row = defaultMatrix[status] ?? []
        return AccessDecision(allowed: row.contains(version), rule: "access.yaml default.\(status.name)")
    }
}

extension AccessPolicy {
    static func read(_ yaml: YAMLReader, versions: [String]) -> AccessPolicy {
        let defaultMatrix = readMatrix(yaml.mapping("default", required: true), versions: versions, complete: true)
        var roles: [Role: Matrix] = [:]
        if let map = yaml.mapping("roles") {
            for name in map.keys {
                guard let role = role(name, in: map) else { continue }
                if map.value(name)?.string == "all" {
                    roles[role] = Dictionary(uniqueKeysWithValues: DiagnosisStatus.allCases.map { ($0, Set(versions)) })
                } else if map.value(name)?.mapping != nil {
                    roles[role] = readMatrix(map.mapping(name), versions: versions, complete: false)
                } else {
                    map.problem(name, "expected `all` or a mapping of statuses to version lists")
                }
            }
            map.finish()
        }
        var hidden: [Role: Set<DiagnosisStatus>] = [:]
        if let map = yaml.mapping("hidden") {
            for name in map.keys {
                guard let role = role(name, in: map) else { continue }
                for text in map.strings(name) ?? [] {
                    guard let status = DiagnosisStatus(name: text) else {
                        map.problem(name, "\"\(text)\" is not a status: use \(DiagnosisStatus.allCases.map(\.name).joined(separator: ", "))")
                        continue
                    }
                    hidden[role, default: []].insert(status)
                }
            }
            map.finish()
        }
        let policy = AccessPolicy(defaultMatrix: defaultMatrix, roles: roles, hidden: hidden)
        // A study searches do not show must not be retrievable either: its pixels would tell that it exists.
        for (role, statuses) in hidden {
            for status in statuses.sorted() {
                let allowed = versions.filter { policy.decide(role: role, status: status, version: $0).allowed }
                guard let first = allowed.first else { continue }
                yaml.problem("hidden", "\(role.rawValue) does not see \(status.name) studies, but "
                             + "\(policy.decide(role: role, status: status, version: first).rule) gives them \(allowed.joined(separator: ", ")): "
                             + "set that row to [] too")
            }
        }
        yaml.finish()
        return policy
    }

    /// The role a key of `map` names; a key that names none is a problem, its value set aside.
    private static func role(_ name: String, in map: YAMLReader) -> Role? {
        if let role = Role(rawValue: name) { return role }
        map.problem(name, "\"\(name)\" is not a role: use \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
        _ = map.value(name)
        return nil
    }

    private static func readMatrix(_ map: YAMLReader?, versions: [String], complete: Bool) -> Matrix {
        guard let map else { return [:] }
        var matrix: Matrix = [:]
        for status in DiagnosisStatus.allCases {
            guard map.has(status.name) else {
                if complete { map.problem(status.name, "is missing: every status needs a row (unread, diagnosed, notes, annotations, report)") }
                continue
            }
            var row: Set<String> = []
            for version in map.strings(status.name) ?? [] {
                if versions.contains(version) {
                    row.insert(version)
                } else {
                    map.problem(status.name, "\(version) is not a version (defined in compression.yaml: \(versions.joined(separator: ", ")))")
                }
            }
            matrix[status] = row
        }
        map.finish()
        return matrix
    }
}
