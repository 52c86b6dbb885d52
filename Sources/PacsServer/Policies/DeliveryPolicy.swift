import Tiering

/// Which version, and how fine a resolution level, a client gets when it does not say (`Policies/delivery.yaml`).
/// The first rule whose conditions all hold decides; what it leaves out comes from `defaults`.
public struct DeliveryPolicy: Sendable, Equatable {
    /// Where the doctor is, from the request (`place=`, `X-Strata-Place`) or the user's entry in users.yaml.
    public static let places = ["reading_room", "ward", "icu", "er", "office", "home", "remote"]

    public struct Conditions: Sendable, Equatable {
        public var roles: Set<Role> = []
        public var statuses: Set<DiagnosisStatus> = []
        public var places: Set<String> = []
        /// Link rate in bits per second, as the client declares or measured it.
        public var linkBelow: Double?
        /// Client memory in bytes.
        public var memoryBelow: Int64?
        /// The client's display, longest side in pixels.
        public var displayBelow: Int?

        func matches(_ context: DeliveryContext) -> Bool {
            if !roles.isEmpty, !roles.contains(context.role) { return false }
            if !statuses.isEmpty, !statuses.contains(context.status) { return false }
            if !places.isEmpty, !(context.place.map(places.contains) ?? false) { return false }
            if let limit = linkBelow, !(context.linkRate.map { $0 < limit } ?? false) { return false }
            if let limit = memoryBelow, !(context.memory.map { $0 < limit } ?? false) { return false }
            if let limit = displayBelow, !(context.display.map { $0 < limit } ?? false) { return false }
            return true
        }
    }

    public struct Rule: Sendable, Equatable {
        public var name: String
        public var when: Conditions
        /// Versions in order of preference: the first the access matrix allows is sent.
        public var versions: [String]?
        /// The longest side of the image sent: the smallest level at least this large.
        public var display: Int?
    }

    public var defaultVersions: [String]
    public var defaultDisplay: Int?
    public var rules: [Rule]

    /// The version and display size for a request; `allowed` is the access gate's answer for a version.
    public func decide(_ context: DeliveryContext, allowed: (String) -> Bool) -> DeliveryDecision {
        let index = rules.firstIndex { $0.when.matches(context) }
        let rule = index.map { rules[$0] }
        let versions = rule?.versions ?? defaultVersions
        let caps = [rule?.display ?? defaultDisplay, context.display].compactMap { $0 }
        let name = index.map { "delivery.yaml rules[\($0)] \(rules[$0].name)" } ?? "delivery.yaml defaults"
        return DeliveryDecision(version: versions.first(where: allowed), candidates: versions, display: caps.min(), rule: name)
    }
}

extension DeliveryPolicy {
    static func read(_ yaml: YAMLReader, versions: [String]) -> DeliveryPolicy {
        func versionList(_ reader: YAMLReader) -> [String]? {
            guard reader.has("versions") else { return nil }
            let names = reader.names("versions")
            for name in names where !versions.contains(name) {
                reader.problem("versions", "\(name) is not a version (defined in compression.yaml: \(versions.joined(separator: ", ")))")
            }
            if names.isEmpty { reader.problem("versions", "name at least one version") }
            return names
        }
        func display(_ reader: YAMLReader) -> Int? {
            reader.number("display", in: 16...65_536, hint: "the longest image side in pixels").map { Int($0) }
        }
        let defaults = yaml.mapping("defaults", required: true)
        let defaultVersions = defaults.flatMap(versionList) ?? []
        if let defaults, !defaults.has("versions") { defaults.problem("versions", "is missing: name the versions sent by default") }
        let defaultDisplay = defaults.flatMap(display)
        defaults?.finish()

        var rules: [Rule] = []
        for item in yaml.list("rules") ?? [] {
            let entry = yaml.reader(for: item)
            let name = entry.string("name", required: true) ?? ""
            var conditions = Conditions()
            if let when = entry.mapping("when", required: true) {
                for text in when.names("role") {
                    if let role = Role(rawValue: text) { conditions.roles.insert(role) } else {
                        when.problem("role", "\"\(text)\" is not a role: use \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                }
                for text in when.names("status") {
                    if let status = DiagnosisStatus(name: text) { conditions.statuses.insert(status) } else {
                        when.problem("status", "\"\(text)\" is not a status: use \(DiagnosisStatus.allCases.map(\.name).joined(separator: ", "))")
                    }
                }
                for text in when.names("place") {
                    if places.contains(text) { conditions.places.insert(text) } else {
                        when.problem("place", "\"\(text)\" is not a place: use \(places.joined(separator: ", "))")
                    }
                }
                if let text = when.string("link_below") {
                    conditions.linkBelow = LinkRate.bitsPerSecond(text)
                    if conditions.linkBelow == nil { when.problem("link_below", "\"\(text)\" is not a rate: write e.g. 4mbit") }
                }
                if let text = when.string("memory_below") {
                    conditions.memoryBelow = Quantity.bytes(text)
                    if conditions.memoryBelow == nil { when.problem("memory_below", "\"\(text)\" is not a size: write e.g. 2GB") }
                }
                conditions.displayBelow = when.number("display_below", in: 16...65_536).map { Int($0) }
                when.finish()
            }
            let rule = Rule(name: name, when: conditions, versions: versionList(entry), display: display(entry))
            if rule.versions == nil, rule.display == nil { entry.problem("name", "rule \"\(name)\" sets neither versions nor display") }
            entry.finish()
            rules.append(rule)
        }
        yaml.finish()
        return DeliveryPolicy(defaultVersions: defaultVersions, defaultDisplay: defaultDisplay, rules: rules)
    }
}
