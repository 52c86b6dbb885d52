import DICOM

/// The one place that decides what a caller may have of a study now: a version of its images, its metadata, or
/// whether a search shows the study at all, by the study's diagnosis status and the caller's role, as access.yaml
/// says. Every path that returns pixels, headers or a study's existence asks it (HTTP routes, DIMSE operations,
/// events); a refusal is an `AccessRefusal` naming the rule.
public struct AccessGate: Sendable {
    let policies: PolicyStore
    let index: DiagnosisIndex

    public init(policies: PolicyStore, index: DiagnosisIndex) {
        self.policies = policies
        self.index = index
    }

    /// The study's status for a decision about this caller; nil for a study that does not exist or that access.yaml
    /// hides from the caller (to whom it does not exist either). A status that cannot be read refuses the study, with
    /// that reason, rather than being taken for one.
    public func status(of study: String, for caller: Caller) throws -> DiagnosisStatus? {
        let status: DiagnosisStatus?
        do {
            status = try index.status(studyInstanceUID: study)
        } catch let error as UnreadableStatus {
            throw AccessRefusal(reason: "\(error): refused until an admin sets it (pacs status set)")
        }
        guard let status, isVisible(caller, status: status) else { return nil }
        return status
    }

    /// What access.yaml says of `version` for this caller at `status`, with the rule that says it.
    public func decision(_ caller: Caller, version: String, status: DiagnosisStatus) -> AccessDecision {
        policies.current.access.decide(role: caller.role, status: status, version: version)
    }

    /// Passes when the caller may have `version` of a study at `status`.
    public func check(_ caller: Caller, version: String, status: DiagnosisStatus) throws(AccessRefusal) {
        let decision = decision(caller, version: version, status: status)
        guard decision.allowed else { throw Self.refusal(caller, version: version, status: status, rule: decision.rule) }
    }

    /// The versions the caller may have of a study at `status` now, in the policy's order (V1 first).
    public func allowedVersions(_ caller: Caller, status: DiagnosisStatus) -> [String] {
        let current = policies.current
        return current.compression.versionNames.filter { current.access.decide(role: caller.role, status: status, version: $0).allowed }
    }

    /// Passes when the caller may have some version of the study now: its metadata carries no pixels, but is no
    /// more released than its images.
    public func checkMetadata(_ caller: Caller, status: DiagnosisStatus) throws(AccessRefusal) {
        guard allowedVersions(caller, status: status).isEmpty else { return }
        let rule = decision(caller, version: "V1", status: status).rule
        throw AccessRefusal(reason: "no version of a study that is \(status.name) is released to \(caller.role.rawValue) users (\(rule))", rule: rule)
    }

    /// Whether searches (QIDO-RS, C-FIND) show the study to this caller at all.
    public func isVisible(_ caller: Caller, status: DiagnosisStatus) -> Bool {
        policies.current.access.isVisible(role: caller.role, status: status)
    }

    /// The refusal of `version`, naming the rule.
    static func refusal(_ caller: Caller, version: String, status: DiagnosisStatus, rule: String) -> AccessRefusal {
        AccessRefusal(reason: "\(version) of a study that is \(status.name) is not released to \(caller.role.rawValue) users (\(rule))", rule: rule)
    }
}

extension AccessGate {
    /// The matches of a search the caller may see (a patient when any of their studies is shown, counting only
    /// those), each with the versions the caller may fetch now of the one study it stands for (none for a patient of
    /// several).
    public func visible(_ matches: [IdentifierSearch.Match], to caller: Caller) -> [(identifier: DataSet, versions: [String])] {
        matches.compactMap { match in
            let shown = match.studies.filter { isVisible(caller, status: $0.status) }
            guard !shown.isEmpty else { return nil }
            let versions = shown.count == 1 ? allowedVersions(caller, status: shown[0].status) : []
            return (shown.count == match.studies.count ? match.identifier : match.standing(for: shown).identifier, versions)
        }
    }
}
