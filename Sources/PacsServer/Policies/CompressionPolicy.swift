/// What versions every image gets and how hard each is compressed (`Policies/compression.yaml`).
public struct CompressionPolicy: Sendable, Equatable, Codable {
    /// A lossy version the server derives (V1, the original and its lossless copy, is always there).
    public struct Version: Sendable, Equatable, Codable {
        public var name: String
        public var purpose: Purpose
        /// Image quality relative to the original, in percent.
        public var quality: Int
    }

    /// A row of ratios for images that match; the first matching rule wins, then `defaults`.
    public struct Rule: Sendable, Equatable, Codable {
        public var modality: String?
        public var bodyPart: String?
        /// Matches when the study description contains this text (case-insensitive).
        public var studyDescription: String?
        public var ratios: [String: Double]
        public var minimumPSNR: [String: Double]

        func matches(modality: String?, bodyPart: String?, studyDescription: String?) -> Bool {
            if let wanted = self.modality, wanted.uppercased() != modality?.uppercased() { return false }
            if let wanted = self.bodyPart, wanted.uppercased() != bodyPart?.uppercased() { return false }
            if let wanted = self.studyDescription,
               !(studyDescription?.lowercased().contains(wanted.lowercased()) ?? false) { return false }
            return true
        }
    }

    public var losslessCopy: Bool
    public var versions: [Version]
    /// Seconds the versions of one image may take; a worker still deriving then is stopped and the try fails.
    public var derivationTimeout: Double = 600
    public var defaults: Rule
    public var rules: [Rule]

    /// Every version name an image can have: V1 and the derived ones.
    public var versionNames: [String] { ["V1"] + versions.map(\.name) }

    /// The raw:compressed ratio for a version of an image with these attributes.
    public func ratio(for version: String, modality: String?, bodyPart: String? = nil, studyDescription: String? = nil) -> Double? {
        let rule = rules.first { $0.matches(modality: modality, bodyPart: bodyPart, studyDescription: studyDescription) && $0.ratios[version] != nil }
        return rule?.ratios[version] ?? defaults.ratios[version]
    }

    public func minimumPSNR(for version: String, modality: String?, bodyPart: String? = nil, studyDescription: String? = nil) -> Double? {
        let rule = rules.first { $0.matches(modality: modality, bodyPart: bodyPart, studyDescription: studyDescription) && $0.minimumPSNR[version] != nil }
        return rule?.minimumPSNR[version] ?? defaults.minimumPSNR[version]
    }
}

extension CompressionPolicy {
    /// Reads the policy and the version names it declares (V1 first), which the other files may reference.
    static func read(_ yaml: YAMLReader) -> (policy: CompressionPolicy, versionNames: [String]) {
        let losslessCopy = yaml.bool("lossless_copy", default: true)
        var versions: [Version] = []
        // Names count as defined even when another field of their entry is wrong, so one mistake
        // is reported once rather than again at every reference.
        var declared: Set<String> = []
        let entries = yaml.list("versions")
        if entries == nil, !yaml.has("versions") { yaml.problem("versions", "is missing: list the lossy versions (name, purpose, quality)") }
        for item in entries ?? [] {
            let entry = yaml.reader(for: item)
            let name = entry.string("name", required: true) ?? ""
            if !name.isEmpty, !Self.isVersionName(name) || name == "V1" {
                entry.problem("name", "\"\(name)\" is not a lossy version name: use V2, V3, … (V1 is the original)")
            }
            if declared.contains(name) { entry.problem("name", "\(name) is defined twice") }
            declared.insert(name)
            let purposeText = entry.string("purpose", required: true) ?? ""
            let purpose = Purpose(rawValue: purposeText)
            if purpose == nil, !purposeText.isEmpty {
                entry.problem("purpose", "\"\(purposeText)\" is not a purpose: use \(Purpose.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let quality = entry.number("quality", in: 1...99, required: true, hint: "percent of the original's quality")
            entry.finish()
            if let purpose, let quality, !name.isEmpty {
                versions.append(Version(name: name, purpose: purpose, quality: Int(quality)))
            }
        }
        let names = declared
        let defaults = readRule(yaml.mapping("defaults", required: true), names: names, isDefault: true)
        let rules = (yaml.list("rules") ?? []).map { readRule(yaml.reader(for: $0), names: names, isDefault: false) }
        let timeout = yaml.number("derivation_timeout", in: 1...86_400, hint: "seconds one image's versions may take")
        yaml.finish()
        for version in versions where defaults.ratios[version.name] == nil {
            yaml.problem("defaults", "gives no ratio for \(version.name): add `\(version.name): <ratio>` under defaults.ratio")
        }
        var policy = CompressionPolicy(losslessCopy: losslessCopy, versions: versions, defaults: defaults, rules: rules)
        if let timeout { policy.derivationTimeout = timeout }
        return (policy, ["V1"] + declared.sorted())
    }

    private static func readRule(_ entry: YAMLReader?, names: Set<String>, isDefault: Bool) -> Rule {
        guard let entry else { return Rule(ratios: [:], minimumPSNR: [:]) }
        let modality = isDefault ? nil : entry.string("modality")
        let bodyPart = isDefault ? nil : entry.string("body_part")
        let description = isDefault ? nil : entry.string("study_description")
        if !isDefault, modality == nil, bodyPart == nil, description == nil {
            entry.problem("modality", "a rule needs at least one of modality, body_part, study_description to match on")
        }
        func table(_ key: String, range: ClosedRange<Double>, hint: String) -> [String: Double] {
            guard let map = entry.mapping(key) else { return [:] }
            var values: [String: Double] = [:]
            for name in map.keys {
                if !names.contains(name) {
                    map.problem(name, "\(name) is not a version defined under `versions` (defined: \(names.sorted().joined(separator: ", ")))")
                    _ = map.value(name)
                } else if let value = map.number(name, in: range, hint: hint) {
                    values[name] = value
                }
            }
            map.finish()
            return values
        }
        let ratios = table("ratio", range: 1.5...1000, hint: "raw bytes : compressed bytes, e.g. 20")
        let psnr = table("min_psnr", range: 10...200, hint: "decibels")
        entry.finish()
        return Rule(modality: modality, bodyPart: bodyPart, studyDescription: description, ratios: ratios, minimumPSNR: psnr)
    }

    static func isVersionName(_ name: String) -> Bool {
        name.count >= 2 && name.first == "V" && name.dropFirst().allSatisfy(\.isNumber)
    }
}
