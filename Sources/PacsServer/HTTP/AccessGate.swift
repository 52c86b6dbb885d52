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

    static func refusal(_ version: String, status: DiagnosisStatus, user: UsersPolicy.User, rule: String) -> HTTPError {
        HTTPError(.forbidden, message: "\(version) of a study that is \(status.name) is not released to \(user.role.rawValue) users (\(rule))")
    }
}
