import DICOM
import Foundation
import Hummingbird
import HTTPTypes
import NIOCore

/// STOW-RS (PS3.18 10.5): a multipart/related body of application/dicom parts, stored part by part as it
/// arrives through the same durable ingest as C-STORE; the answer lists what was stored and what failed.
struct STOW {
    /// The largest single instance accepted.
    static let maximumPartSize = 2 << 30

    let ingest: IngestService
    let policies: PolicyStore

    func store(_ request: Request, user: UsersPolicy.User, study: String?) async throws -> Response {
        guard user.role != .referring else {
            throw HTTPError(.forbidden, message: "referring users may not store images")
        }
        let (type, parameters) = Multipart.parameters(request.headers[.contentType] ?? "")
        guard type == "multipart/related", parameters["type"]?.lowercased() == "application/dicom" || parameters["type"] == nil,
              let boundary = parameters["boundary"], !boundary.isEmpty else {
            throw HTTPError(.unsupportedMediaType, message: "send multipart/related; type=\"application/dicom\" with a boundary")
        }
        let limit = policies.current.network.httpMaxUpload
        // A body announced too large is refused before any of it is read or stored.
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw HTTPError(.contentTooLarge, message: "the body is larger than network.yaml's http_max_upload (\(limit) bytes)")
        }
        var reader = MultipartReader(boundary: boundary, maximumPartSize: min(Self.maximumPartSize, limit))
        var referenced: [Item] = []
        var failed: [Item] = []
        var received = 0
        do {
            for try await chunk in request.body {
                received += chunk.readableBytes
                guard received <= limit else {
                    throw HTTPError(.contentTooLarge, message: "the body is larger than network.yaml's http_max_upload (\(limit) bytes)")
                }
                for part in try reader.feed(chunk) {
                    let (item, ok) = await store(part, study: study, base: WADO.baseURL(request))
                    if ok { referenced.append(item) } else { failed.append(item) }
                }
                if reader.finished { break }
            }
        } catch let problem as MultipartReader.Problem {
            throw HTTPError(.badRequest, message: "\(problem)")
        }
        // Parts are stored as they arrive; a body cut short after some were stored still reports those.
        guard reader.finished || !referenced.isEmpty else {
            throw HTTPError(.badRequest, message: "the body ended before the closing boundary")
        }
        guard !referenced.isEmpty || !failed.isEmpty else { throw HTTPError(.badRequest, message: "the body holds no parts") }

        var answer = DataSet()
        if let study { answer.set(.retrieveURL, .UR, "\(WADO.baseURL(request))/studies/\(study)") }
        if !failed.isEmpty { answer.set(Element(tag: .failedSOPSequence, vr: .SQ, value: .items(failed))) }
        if !referenced.isEmpty { answer.set(Element(tag: .referencedSOPSequence, vr: .SQ, value: .items(referenced))) }
        let truncated = !reader.finished
        let status: HTTPResponse.Status = failed.isEmpty && !truncated ? .ok : (referenced.isEmpty ? .conflict : .accepted)
        var headers = HTTPFields()
        headers[.contentType] = "application/dicom+json"
        if truncated {
            headers[HTTPField.Name("Warning")!] = "299 Strata \"the body ended before the closing boundary: only the instances listed were stored\""
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: DICOMJSONEncoder().encode(answer))))
    }

    /// Stores one part; returns its ReferencedSOPSequence or FailedSOPSequence item.
    private func store(_ part: MultipartReader.Part, study: String?, base: String) async -> (Item, Bool) {
        var item = DataSet()
        func fail(_ reason: UInt16) -> (Item, Bool) {
            item.set(.failureReason, uint16: reason)
            return (Item(item), false)
        }
        let type = Multipart.parameters(part.headers["content-type"] ?? "application/dicom").type
        guard type == "application/dicom" else { return fail(0xC000) }
        let bytes = part.body
        let parsed = try? DicomFile.read(bytes)
        let uids = (parsed?.dataSet.string(.sopClassUID), parsed?.dataSet.string(.sopInstanceUID))
        if let sopClass = uids.0 { item.set(.referencedSOPClassUID, .UI, sopClass) }
        if let sopInstance = uids.1 { item.set(.referencedSOPInstanceUID, .UI, sopInstance) }
        if let study, let actual = parsed?.dataSet.string(.studyInstanceUID), actual != study {
            return fail(0xA900)  // the instance belongs to another study than the one posted to
        }
        let ingest = self.ingest
        do {
            let outcome = try await Blocking.run { try ingest.ingest(fileBytes: bytes) }
            if let parsed, let study = parsed.dataSet.string(.studyInstanceUID), let series = parsed.dataSet.string(.seriesInstanceUID) {
                item.set(.retrieveURL, .UR, "\(base)/studies/\(study)/series/\(series)/instances/\(outcome.sopInstanceUID)")
            }
            return (Item(item), true)
        } catch let error as IngestError {
            switch error {
            case .malformed, .classMismatch: return fail(0xC000)
            case .conflict: return fail(0x0111)
            case .storage: return fail(0xA700)
            case .index: return fail(0xC000)
            }
        } catch {
            return fail(0xC000)
        }
    }
}
