/// The standard's data dictionary (PS3.6) and UID registry, read from the generated tables on first use.
public enum DataDictionary {
    public struct Entry: Sendable {
        public let tag: Tag
        /// The VRs the standard allows; most attributes have one, a few two (`US or SS`).
        public let vrs: [VR]
        public let vm: String
        public let keyword: String
        public let name: String
        public let retired: Bool
        public var vr: VR { vrs.first ?? .UN }
    }

    public struct UIDEntry: Sendable {
        public let uid: String
        public let keyword: String
        public let name: String
        public let type: String
    }

    public static func entry(for tag: Tag) -> Entry? {
        if let entry = tables.byTag[tag] { return entry }
        if tag.isPrivate { return nil }
        // Repeating groups such as (60xx,3000): try the masked forms.
        for (mask, value, entry) in tables.repeaters where tag.value & mask == value {
            return Entry(tag: tag, vrs: entry.vrs, vm: entry.vm, keyword: entry.keyword, name: entry.name, retired: entry.retired)
        }
        return nil
    }

    public static func tag(forKeyword keyword: String) -> Tag? { tables.byKeyword[keyword] }

    /// Builds the tables now rather than on first use (tens of milliseconds): a server does it before it
    /// listens, so that its first association does not wait for it.
    public static func load() { _ = tables }

    public static func uid(_ uid: String) -> UIDEntry? { tables.uids[uid] }

    /// The VR an implicit-VR reader assumes for a tag.
    static func implicitVR(for tag: Tag) -> VR? {
        if tag.isGroupLength { return .UL }
        if tag.isPrivateCreator { return .LO }
        return entry(for: tag)?.vr
    }

    private struct Tables: Sendable {
        var byTag: [Tag: Entry] = [:]
        var byKeyword: [String: Tag] = [:]
        var repeaters: [(mask: UInt32, value: UInt32, entry: Entry)] = []
        var uids: [String: UIDEntry] = [:]
    }

    private static let tables: Tables = {
        var tables = Tables()
        for line in attributeTable.split(separator: "\n") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard f.count >= 6 else { continue }
            let vrs = f[1].split(separator: " ").compactMap { VR(rawValue: String($0)) }
            let key = String(f[0])
            let placeholder = Tag(0)
            let entry = Entry(tag: placeholder, vrs: vrs, vm: String(f[2]), keyword: String(f[3]), name: String(f[4]), retired: f[5] == "R")
            if key.contains("x") {
                let mask = UInt32(String(key.map { $0 == "x" ? "0" : "F" }), radix: 16)!
                let value = UInt32(String(key.map { $0 == "x" ? "0" : $0 }), radix: 16)!
                tables.repeaters.append((mask, value, entry))
            } else if let raw = UInt32(key, radix: 16) {
                let tag = Tag(raw)
                tables.byTag[tag] = Entry(tag: tag, vrs: vrs, vm: entry.vm, keyword: entry.keyword, name: entry.name, retired: entry.retired)
                if !entry.keyword.isEmpty { tables.byKeyword[entry.keyword] = tag }
            }
        }
        for line in uidTable.split(separator: "\n") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard f.count >= 4 else { continue }
            tables.uids[String(f[0])] = UIDEntry(uid: String(f[0]), keyword: String(f[1]), name: String(f[2]), type: String(f[3]))
        }
        return tables
    }()
}
