import DICOM
import DIMSE

/// C-FIND SCP for the Patient Root and Study Root information models at PATIENT, STUDY, SERIES and IMAGE
/// level: the index narrows, the matcher checks every key we hold, and each match returns exactly the
/// keys asked for.
struct FindSCP {
    let service: PacsDIMSEService

    enum Level: String {
        case patient = "PATIENT", study = "STUDY", series = "SERIES", image = "IMAGE"
    }

    func find(_ request: DIMSEMessage, on association: Association) async throws {
        guard let context = association.contexts[request.contextID], let bytes = request.dataSet,
              let identifier = try? DataSet.read(bytes, syntax: context.transferSyntax) else {
            return try await association.send(.response(to: request, .cFindResponse, status: Status.cannotUnderstand) {
                $0.set(.errorComment, .LO, "the identifier cannot be read")
            })
        }
        guard let level = identifier.string(.queryRetrieveLevel).flatMap(Level.init(rawValue:)) else {
            return try await association.send(.response(to: request, .cFindResponse, status: Status.identifierDoesNotMatchSOPClass) {
                $0.set(.errorComment, .LO, "QueryRetrieveLevel must be PATIENT, STUDY, SERIES or IMAGE")
            })
        }
        if level == .patient, request.affectedSOPClassUID == SOPClass.studyRootFind {
            return try await association.send(.response(to: request, .cFindResponse, status: Status.identifierDoesNotMatchSOPClass) {
                $0.set(.errorComment, .LO, "the Study Root model has no PATIENT level")
            })
        }
        let index = service.store.index
        let matches = try await Blocking.run { try Self.search(identifier, level: level, index: index) }
        for match in matches {
            if association.isCancelled(request.messageID) {
                return try await association.send(.response(to: request, .cFindResponse, status: Status.cancel))
            }
            let response = try match.encoded(syntax: context.transferSyntax)
            try await association.send(.response(to: request, .cFindResponse, status: Status.pending, dataSet: response))
        }
        let final = association.isCancelled(request.messageID) ? Status.cancel : Status.success
        try await association.send(.response(to: request, .cFindResponse, status: final))
    }

    /// The response identifiers of every match.
    static func search(_ identifier: DataSet, level: Level, index: ImageIndex) throws -> [DataSet] {
        let query = indexQuery(identifier, level: level)
        let records: [[Tag: String]]
        switch level {
        case .patient:
            records = try index.patients(matching: query).map(record)
        case .study:
            records = try index.studies(matching: query).map(record)
        case .series:
            let studies = Dictionary(try index.studies(matching: query).map { ($0.studyInstanceUID, record($0)) }, uniquingKeysWith: { a, _ in a })
            records = try index.series(matching: query).map { (studies[$0.studyInstanceUID] ?? [:]).merging(record($0)) { _, new in new } }
        case .image:
            let studies = Dictionary(try index.studies(matching: query).map { ($0.studyInstanceUID, record($0)) }, uniquingKeysWith: { a, _ in a })
            let series = Dictionary(try index.series(matching: query).map { ($0.seriesInstanceUID, record($0)) }, uniquingKeysWith: { a, _ in a })
            records = try index.instances(matching: query).map { instance in
                (studies[instance.studyInstanceUID] ?? [:]).merging(series[instance.seriesInstanceUID] ?? [:]) { _, new in new }
                    .merging(record(instance)) { _, new in new }
            }
        }
        let keys = identifier.elements.filter { $0.tag.group != 0x0000 && $0.tag.group != 0x0002 && $0.tag != .specificCharacterSet && $0.tag != .queryRetrieveLevel }
        let characterSet = identifier.characterSet()
        return records.filter { record in
            keys.allSatisfy { key in
                guard case let .bytes(bytes) = key.value, !bytes.isEmpty, let value = record[key.tag] else { return true }
                let pattern = identifier.strings(key.tag, characterSet: characterSet).joined(separator: "\\")
                return AttributeMatcher.matches(pattern, value, vr: key.vr)
            }
        }.map { response($0, keys: keys, level: level) }
    }

    /// The keys the index can narrow on; the matcher checks all keys afterwards.
    private static func indexQuery(_ identifier: DataSet, level: Level) -> IndexQuery {
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

    private static func response(_ record: [Tag: String], keys: [Element], level: Level) -> DataSet {
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
