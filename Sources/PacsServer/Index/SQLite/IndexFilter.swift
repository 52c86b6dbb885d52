import GRDB

/// An `IndexQuery` as SQL conditions over the aliases p (patient), s (study), se (series), i (instance).
struct IndexFilter {
    /// Conditions on patient and study, shared by every level.
    private var common: [SQL] = []
    /// At study level a modality matches when any series has it.
    private var studyOnly: [SQL] = []
    private var series: [SQL] = []
    private var instance: [SQL] = []
    /// LIMIT and OFFSET, or nothing.
    let page: SQL

    init(_ query: IndexQuery) {
        if let limit = query.limit {
            page = "LIMIT \(max(0, limit)) OFFSET \(max(0, query.offset))"
        } else {
            page = query.offset > 0 ? "LIMIT -1 OFFSET \(query.offset)" : ""
        }
        if let id = query.patientID, !id.isEmpty { common.append(Self.match("p.patient_id", id)) }
        if let name = query.patientName, !name.isEmpty { common.append(Self.match("p.name_key", name.uppercased())) }
        if let accession = query.accessionNumber, !accession.isEmpty { common.append(Self.match("s.accession", accession)) }
        if let range = query.studyDate, !range.isEmpty { common.append(Self.dateRange("s.date", range)) }
        if !query.studyInstanceUIDs.isEmpty { common.append("s.uid IN \(query.studyInstanceUIDs)") }
        if let modality = query.modality, !modality.isEmpty {
            let condition = Self.match("se.modality", modality)
            studyOnly.append("EXISTS (SELECT 1 FROM series se WHERE se.study_ref = s.id AND \(condition))")
            series.append(condition)
        }
        if !query.seriesInstanceUIDs.isEmpty { series.append("se.uid IN \(query.seriesInstanceUIDs)") }
        if !query.sopInstanceUIDs.isEmpty { instance.append("i.uid IN \(query.sopInstanceUIDs)") }
    }

    var studyConditions: SQL { Self.all(common + studyOnly) }
    var seriesConditions: SQL { Self.all(common + series) }
    var instanceConditions: SQL { Self.all(common + series + instance) }

    /// Single-value or wildcard matching (PS3.4 C.2.2.2.1, C.2.2.2.4): `*` any run, `?` any one character.
    private static func match(_ column: String, _ value: String) -> SQL {
        guard value.contains("*") || value.contains("?") else { return "\(sql: column) = \(value)" }
        var pattern = ""
        for character in value {
            switch character {
            case "*": pattern += "%"
            case "?": pattern += "_"
            case "%", "_", "\\": pattern += "\\\(character)"
            default: pattern.append(character)
            }
        }
        return "\(sql: column) LIKE \(pattern) ESCAPE '\\'"
    }

    /// Range matching (PS3.4 C.2.2.2.5) on `YYYYMMDD` text, which orders as dates do.
    private static func dateRange(_ column: String, _ range: String) -> SQL {
        let parts = range.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 else { return "\(sql: column) = \(range)" }
        switch (parts[0].isEmpty, parts[1].isEmpty) {
        case (false, false): return "\(sql: column) BETWEEN \(parts[0]) AND \(parts[1])"
        case (false, true): return "\(sql: column) >= \(parts[0])"
        case (true, false): return "(\(sql: column) <> '' AND \(sql: column) <= \(parts[1]))"
        case (true, true): return "1 = 1"
        }
    }

    private static func all(_ conditions: [SQL]) -> SQL {
        conditions.isEmpty ? "1 = 1" : conditions.joined(separator: " AND ")
    }
}
