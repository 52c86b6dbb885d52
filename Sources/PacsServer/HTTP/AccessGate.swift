import Hummingbird

/// The one place that decides whether a user may have a version of a study at its diagnosis status.
/// A refusal is a 403 that names the rule of access.yaml that refused.
struct AccessGate {
    let policies: PolicyStore

    func check(user: UsersPolicy.User, status: Int, version: String) throws {
        let diagnosis = DiagnosisStatus(rawValue: status) ?? .unread
        let decision = policies.current.access.decide(role: user.role, status: diagnosis, version: version)
        guard decision.allowed else { throw Self.refusal(version, status: diagnosis, user: user, rule: decision.rule) }
    }

    /// Passes when the user may have at least one version of the study now.
    func checkAny(user: UsersPolicy.User, status: Int) throws {
        let current = policies.current
        let diagnosis = DiagnosisStatus(rawValue: status) ?? .unread
        guard current.compression.versionNames.contains(where: { current.access.decide(role: user.role, status: diagnosis, version: $0).allowed }) else {
            let rule = current.access.decide(role: user.role, status: diagnosis, version: "V1").rule
            throw HTTPError(.forbidden, message: "no version of a study that is \(diagnosis.name) is released to \(user.role.rawValue) users (\(rule))")
        }
    }

    static func refusal(_ version: String, status: DiagnosisStatus, user: UsersPolicy.User, rule: String) -> HTTPError {
        HTTPError(.forbidden, message: "\(version) of a study that is \(status.name) is not released to \(user.role.rawValue) users (\(rule))")
    }
}
