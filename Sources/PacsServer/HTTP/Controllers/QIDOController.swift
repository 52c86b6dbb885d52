import DICOM
import Foundation
import Hummingbird

/// QIDO-RS (PS3.18 10.6): the same search as C-FIND (`IdentifierSearch`), answered as DICOM JSON. A study the
/// caller may not see (access.yaml `hidden`) is not found; each result says which versions the caller may fetch of
/// its study now, in (0073,1010) of the private block "STRATA VERSIONS".
struct QIDOController {
    let index: InstanceIndex
    let gate: AccessGate
    /// Runs blocking work (file and index reads) off the event loops.
    let blocking: BlockingPool

    func addRoutes(to web: RouterGroup<StrataContext>) {
        web.get("studies") { request, context in try await search(request, context, level: .study) }
        web.get("series") { request, context in try await search(request, context, level: .series) }
        web.get("instances") { request, context in try await search(request, context, level: .image) }
        web.get("studies/:study/series") { request, context in
            try await search(request, context, level: .series, study: context.parameters.require("study"))
        }
        web.get("studies/:study/instances") { request, context in
            try await search(request, context, level: .image, study: context.parameters.require("study"))
        }
        web.get("studies/:study/series/:series/instances") { request, context in
            try await search(request, context, level: .image, study: context.parameters.require("study"), series: context.parameters.require("series"))
        }
    }

    /// The attributes returned when the client names none (PS3.18 Table 10.6.3-3/4/5).
    static let defaults: [QueryLevel: [Tag]] = [
        .study: [.studyDate, .studyTime, .accessionNumber, .modalitiesInStudy, .referringPhysicianName, .patientName, .patientID,
                 .patientBirthDate, .patientSex, .studyInstanceUID, .studyID, .studyDescription, .numberOfStudyRelatedSeries,
                 .numberOfStudyRelatedInstances],
        .series: [.modality, .seriesDescription, .seriesNumber, .seriesInstanceUID, .studyInstanceUID, .bodyPartExamined,
                  .numberOfSeriesRelatedInstances],
        .image: [.sopClassUID, .sopInstanceUID, .instanceNumber, .rows, .columns, .numberOfFrames, .seriesInstanceUID, .studyInstanceUID],
    ]

    func search(_ request: Request, _ context: StrataContext, level: QueryLevel, study: String? = nil, series: String? = nil) async throws -> Response {
        let caller = try context.caller
        var identifier = DataSet()
        var wanted = Self.defaults[level] ?? []
        var limit: Int?
        var offset = 0
        for (key, value) in request.uri.queryParameters.map({ (String($0.key), String($0.value)) }) {
            switch key {
            case "limit":
                guard let number = Int(value), number >= 0 else { throw HTTPError(.badRequest, message: "limit is a whole number, 0 or more") }
                limit = number
            case "offset":
                guard let number = Int(value), number >= 0 else { throw HTTPError(.badRequest, message: "offset is a whole number, 0 or more") }
                offset = number
            case "fuzzymatching":
                guard value == "false" || value == "true" else { throw HTTPError(.badRequest, message: "fuzzymatching must be true or false") }
            case "includefield":
                for field in value.split(separator: ",").map(String.init) {
                    if field == "all" {
                        wanted += (Self.defaults[.study] ?? []) + (Self.defaults[.series] ?? []) + (Self.defaults[.image] ?? [])
                    } else if let tag = Self.tag(field) {
                        wanted.append(tag)
                    } else {
                        throw HTTPError(.badRequest, message: "includefield \(field) is not an attribute keyword or tag")
                    }
                }
            default:
                guard let tag = Self.tag(key) else { throw HTTPError(.badRequest, message: "\(key) is not an attribute keyword or tag") }
                let vr = DataDictionary.entry(for: tag)?.vr ?? .LO
                // DICOMweb separates the UIDs of a list with commas, DIMSE with backslashes.
                identifier.set(tag, vr, vr == .UI ? value.replacingOccurrences(of: ",", with: "\\") : value, characterSet: .utf8)
            }
        }
        for uid in [study, series].compactMap({ $0 }) where !WADOController.isUID(uid) {
            throw HTTPError(.badRequest, message: "\(uid.prefix(80)) is not a UID")
        }
        if let study { identifier.set(.studyInstanceUID, .UI, study) }
        if let series { identifier.set(.seriesInstanceUID, .UI, series) }
        for tag in wanted where !identifier.contains(tag) {
            identifier.set(Element(tag: tag, vr: DataDictionary.entry(for: tag)?.vr ?? .LO, bytes: []))
        }
        identifier.set(.specificCharacterSet, .CS, "ISO_IR 192")
        let index = self.index, gate = self.gate
        let matches = try await blocking.run { [identifier] in gate.visible(try IdentifierSearch.search(identifier, level: level, index: index), to: caller) }
        let page = matches.dropFirst(offset).prefix(limit ?? Int.max).map { match -> DataSet in
            var result = match.identifier
            result.remove(.queryRetrieveLevel)
            FetchableVersions.write(match.versions, into: &result)
            return result
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/dicom+json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: DICOMJSONEncoder().encode(Array(page)))))
    }

    /// `PatientName`, or the tag in hexadecimal (`00100010`).
    static func tag(_ key: String) -> Tag? {
        DataDictionary.tag(forKeyword: key) ?? Tag(hexString: key)
    }
}
