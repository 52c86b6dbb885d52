import DICOM

/// A query identifier (C-FIND's, or QIDO-RS's query parameters made one) answered from the index: the index narrows
/// on the keys it holds, `AttributeMatcher` checks every key, and each match carries exactly the keys asked for.
/// The one search behind C-FIND and QIDO-RS.
public enum IdentifierSearch {
    /// One match: the identifier to return, and the studies it stands for with their status (the gate decides on
    /// those: a patient stands for all of theirs).
    public struct Match: Sendable {
        public var identifier: DataSet
        public var studies: [StudySummary]

        /// The match as it stands for only some of its studies (a patient's that a caller may see): the patient's
        /// related studies, series and instances counted from those.
        func standing(for shown: [StudySummary]) -> Match {
            var identifier = self.identifier
            for (tag, count) in [(Tag.numberOfPatientRelatedStudies, shown.count),
                                 (.numberOfPatientRelatedSeries, shown.reduce(0) { $0 + $1.seriesCount }),
                                 (.numberOfPatientRelatedInstances, shown.reduce(0) { $0 + $1.instanceCount })] where identifier.contains(tag) {
                identifier.set(tag, .IS, "\(count)")
            }
            return Match(identifier: identifier, studies: shown)
        }
    }

    public static func search(_ identifier: DataSet, level: QueryLevel, index: InstanceIndex) throws -> [Match] {
        let query = indexQuery(identifier, level: level)
        var records: [(record: [Tag: String], studies: [StudySummary])]
        switch level {
        case .patient:
            let studies = try index.studies(matching: query)
            records = try index.patients(matching: query).map { patient in
                (record(patient), studies.filter { $0.patientID == patient.patientID })
            }
        case .study:
            records = try index.studies(matching: query).map { (record($0), [$0]) }
        case .series:
            let studies = Dictionary(try index.studies(matching: query).map { ($0.studyInstanceUID, $0) }, uniquingKeysWith: { a, _ in a })
            records = try index.series(matching: query).compactMap { series in
                studies[series.studyInstanceUID].map { study in
                    (record(study).merging(record(series)) { _, new in new }, [study])
                }
            }
        case .image:
            let studies = Dictionary(try index.studies(matching: query).map { ($0.studyInstanceUID, $0) }, uniquingKeysWith: { a, _ in a })
            let series = Dictionary(try index.series(matching: query).map { ($0.seriesInstanceUID, record($0)) }, uniquingKeysWith: { a, _ in a })
            records = try index.instances(matching: query).compactMap { instance in
                studies[instance.studyInstanceUID].map { study in
                    (record(study).merging(series[instance.seriesInstanceUID] ?? [:]) { _, new in new }.merging(record(instance)) { _, new in new },
                     [study])
                }
            }
        }
        let keys = identifier.elements.filter { $0.tag.group != 0x0000 && $0.tag.group != 0x0002 && $0.tag != .specificCharacterSet && $0.tag != .queryRetrieveLevel }
        let characterSet = identifier.characterSet()
        return records.filter { entry in
            keys.allSatisfy { key in
                guard case let .bytes(bytes) = key.value, !bytes.isEmpty, let value = entry.record[key.tag] else { return true }
                let pattern = identifier.strings(key.tag, characterSet: characterSet).joined(separator: "\\")
                return AttributeMatcher.matches(pattern, value, vr: key.vr)
            }
        }.map { Match(identifier: response($0.record, keys: keys, level: level), studies: $0.studies) }
    }

    /// The keys the index can narrow on; the matcher checks all keys afterwards.
    private static func indexQuery(_ identifier: DataSet, level: QueryLevel) -> IndexQuery {
        var query = IndexQuery()
        func value(_ tag: Tag) -> String? {
            let text = identifier.strings(tag).joined(separator: "\\")
            return text.isEmpty || text == "*" ? nil : text
        }
        func uids(_ tag: Tag) -> [String] {
            identifier.strings(tag).filter { !$0.isEmpty }
        }
        query.patientID = value(.patientID)
        query.patientName = value(.patientName)
        query.accessionNumber = value(.accessionNumber)
        query.studyDate = value(.studyDate)
        query.modality = level == .study ? value(.modalitiesInStudy) : (level == .patient ? nil : value(.modality))
        if query.modality?.contains("\\") == true { query.modality = nil }
        query.studyInstanceUIDs = uids(.studyInstanceUID)
        if level == .series || level == .image { query.seriesInstanceUIDs = uids(.seriesInstanceUID) }
        if level == .image { query.sopInstanceUIDs = uids(.sopInstanceUID) }
        return query
    }

    private static func response(_ record: [Tag: String], keys: [Element], level: QueryLevel) -> DataSet {
        var out = DataSet()
        out.set(.specificCharacterSet, .CS, "ISO_IR 192")
        out.set(.queryRetrieveLevel, .CS, level.rawValue)
        for key in keys {
            let value = record[key.tag] ?? ""
            switch key.vr {
            case .SQ:
                out.set(Element(tag: key.tag, vr: .SQ, value: .items([])))
            case .US:
                out.set(Element(tag: key.tag, vr: .US, bytes: UInt16(value).map { [UInt8($0 & 0xFF), UInt8($0 >> 8)] } ?? []))
            default:
                out.set(key.tag, key.vr, value, characterSet: .utf8)
            }
        }
        return out
    }

    // What we hold about each entity, keyed by tag.

    private static func record(_ p: PatientSummary) -> [Tag: String] {
        [.patientID: p.patientID, .patientName: p.patientName, .patientBirthDate: p.patientBirthDate, .patientSex: p.patientSex,
         .numberOfPatientRelatedStudies: "\(p.studyCount)", .numberOfPatientRelatedSeries: "\(p.seriesCount)",
         .numberOfPatientRelatedInstances: "\(p.instanceCount)"]
    }

    private static func record(_ s: StudySummary) -> [Tag: String] {
        [.patientID: s.patientID, .patientName: s.patientName, .patientBirthDate: s.patientBirthDate, .patientSex: s.patientSex,
         .studyInstanceUID: s.studyInstanceUID, .studyDate: s.studyDate, .studyTime: s.studyTime, .accessionNumber: s.accessionNumber,
         .studyDescription: s.studyDescription, .referringPhysicianName: s.referringPhysicianName, .studyID: s.studyID,
         .modalitiesInStudy: s.modalities.joined(separator: "\\"), .numberOfStudyRelatedSeries: "\(s.seriesCount)",
         .numberOfStudyRelatedInstances: "\(s.instanceCount)"]
    }

    private static func record(_ s: SeriesSummary) -> [Tag: String] {
        [.seriesInstanceUID: s.seriesInstanceUID, .studyInstanceUID: s.studyInstanceUID, .modality: s.modality,
         .seriesNumber: s.seriesNumber.map(String.init) ?? "", .seriesDescription: s.seriesDescription,
         .bodyPartExamined: s.bodyPartExamined, .numberOfSeriesRelatedInstances: "\(s.instanceCount)"]
    }

    private static func record(_ i: InstanceSummary) -> [Tag: String] {
        [.sopInstanceUID: i.sopInstanceUID, .sopClassUID: i.sopClassUID, .seriesInstanceUID: i.seriesInstanceUID,
         .studyInstanceUID: i.studyInstanceUID, .instanceNumber: i.instanceNumber.map(String.init) ?? "",
         .rows: i.rows.map(String.init) ?? "", .columns: i.columns.map(String.init) ?? "", .numberOfFrames: "\(i.numberOfFrames)"]
    }
}
