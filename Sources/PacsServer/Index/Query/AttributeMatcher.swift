import DICOM

/// Matching of query keys against attribute values (PS3.4 C.2.2.2): universal (empty), single value,
/// wildcard (`*`, `?`), range (`a-b` for dates and times), and UID lists.
enum AttributeMatcher {
    static func matches(_ pattern: String, _ value: String, vr: VR) -> Bool {
        if pattern.isEmpty || pattern == "*" { return true }
        // A multi-valued attribute (ModalitiesInStudy) matches when any of its values does.
        let values = vr == .UI || !value.contains("\\") ? [value] : value.split(separator: "\\").map(String.init)
        return values.contains { one(pattern, $0, vr: vr) }
    }

    private static func one(_ pattern: String, _ value: String, vr: VR) -> Bool {
        switch vr {
        case .UI:
            return pattern.split(separator: "\\").contains { $0 == value }
        case .DA, .TM, .DT:
            guard let dash = pattern.firstIndex(of: "-") else { return value == pattern || (vr == .TM && value.hasPrefix(pattern)) }
            let low = String(pattern[..<dash]), high = String(pattern[pattern.index(after: dash)...])
            guard !value.isEmpty else { return false }
            // Times compare on the precision the bound gives ("10" means 10:00:00 to 10:59:59.999999).
            let upper = vr == .DA ? high : high + String(repeating: "9", count: max(0, 13 - high.count))
            return (low.isEmpty || value >= low) && (high.isEmpty || value <= upper)
        case .PN:
            return glob(Array(pattern.uppercased().unicodeScalars), Array(value.uppercased().unicodeScalars))
        default:
            if pattern.contains("*") || pattern.contains("?") {
                return glob(Array(pattern.unicodeScalars), Array(value.unicodeScalars))
            }
            return pattern == value
        }
    }

    /// `*` matches any run, `?` any one character.
    private static func glob(_ pattern: [Unicode.Scalar], _ text: [Unicode.Scalar]) -> Bool {
        var p = 0, t = 0, star = -1, mark = 0
        while t < text.count {
            if p < pattern.count, pattern[p] == "?" || pattern[p] == text[t] {
                p += 1
                t += 1
            } else if p < pattern.count, pattern[p] == "*" {
                star = p
                mark = t
                p += 1
            } else if star >= 0 {
                p = star + 1
                mark += 1
                t = mark
            } else {
                return false
            }
        }
        while p < pattern.count, pattern[p] == "*" { p += 1 }
        return p == pattern.count
    }
}
