import DICOM
import DIMSE
import Hummingbird
import HTTPTypes
import Logging
import NIOCore

/// STOW-RS (PS3.18 10.5): a multipart/related body of application/dicom parts, stored part by part as it
/// arrives through the same durable ingest as C-STORE; the answer lists what was stored and what failed.
struct STOWController {
    /// The largest single instance accepted.
    static let maximumPartSize = 2 << 30

    let ingest: IngestService
    let policies: PolicyStore
    let logger: Logger
    /// Runs blocking work (file and index reads) off the event loops.
    let blocking: BlockingPool

    func addRoutes(to web: RouterGroup<StrataContext>) {
        let senders = web.group().only(.reading, .teleradiology, .admin, refusal: "referring users may not store images")
        senders.post("studies") { request, _ in try await store(request, study: nil) }
        senders.post("studies/:study") { request, context in try await store(request, study: context.parameters.require("study")) }
    }

    func store(_ request: Request, study: String?) async throws -> Response {
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
        var batch: [[UInt8]] = []
        var batchBytes = 0
        let ingest = self.ingest, base = WADOController.baseURL(request), logger = self.logger
        // Groups are stored while the next one is received (at most two in flight, so memory stays bounded).
        var storing: [Task<[(Item, Bool)], Error>] = []
        func collect(keeping: Int) async throws {
            while storing.count > keeping {
                for (item, ok) in try await storing.removeFirst().value {
                    if ok { referenced.append(item) } else { failed.append(item) }
                }
            }
        }
        func storeBatch() async throws {
            guard !batch.isEmpty else { return }
            let parts = batch
            storing.append(Task { try await blocking.run { Self.store(parts, ingest: ingest, study: study, base: base, logger: logger) } })
            batch.removeAll()
            batchBytes = 0
            try await collect(keeping: 1)
        }
        do {
            for try await chunk in request.body {
                received += chunk.readableBytes
                guard received <= limit else {
                    throw HTTPError(.contentTooLarge, message: "the body is larger than network.yaml's http_max_upload (\(limit) bytes)")
                }
                for part in try reader.feed(chunk) {
                    guard Multipart.parameters(part.headers["content-type"] ?? "application/dicom").type == "application/dicom" else {
                        failed.append(Self.failure(DataSet(), 0xC000))
                        continue
                    }
                    batch.append(part.body)
                    batchBytes += part.body.count
                }
                // Parts are stored in groups (one flush and one index transaction for each group).
                if batchBytes >= Self.batchBytes || batch.count >= Self.batchParts {
                    try await storeBatch()
                }
                if reader.finished { break }
            }
            try await storeBatch()
            try await collect(keeping: 0)
        } catch let problem as MultipartReader.Problem {
            try? await storeBatch()
            try? await collect(keeping: 0)
            throw HTTPError(.badRequest, message: "\(problem)")
        } catch {
            // What arrived whole before the failure is stored, as it would have been part by part.
            try? await storeBatch()
            try? await collect(keeping: 0)
            throw error
        }
        // Parts are stored as they arrive; a body cut short after some were stored still reports those.
        guard reader.finished || !referenced.isEmpty else {
            throw HTTPError(.badRequest, message: "the body ended before the closing boundary")
        }
        guard !referenced.isEmpty || !failed.isEmpty else { throw HTTPError(.badRequest, message: "the body holds no parts") }

        var answer = DataSet()
        if let study { answer.set(.retrieveURL, .UR, "\(WADOController.baseURL(request))/studies/\(study)") }
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

    /// Parts grouped for one ingest: up to this many, or this many bytes.
    static let batchParts = 32
    static let batchBytes = 32 << 20

    /// Stores a group of parts (each read once, checked against the study posted to) and answers for each, in
    /// order: its ReferencedSOPSequence item (true) or FailedSOPSequence item (false).
    static func store(_ parts: [[UInt8]], ingest: IngestService, study: String?, base: String, logger: Logger) -> [(Item, Bool)] {
        var answers = [(Item, Bool)?](repeating: nil, count: parts.count)
        var accepted: [(position: Int, prepared: IngestService.Prepared)] = []
        for (position, bytes) in parts.enumerated() {
            switch Result(catching: { () throws(IngestError) in try ingest.prepare(fileBytes: bytes, source: "STOW-RS") }) {
            case let .success(prepared):
                if let study, prepared.attributes.studyInstanceUID != study {
                    // The instance belongs to another study than the one posted to.
                    answers[position] = (failure(item(prepared.attributes), 0xA900), false)
                } else {
                    accepted.append((position, prepared))
                }
            case let .failure(error):
                answers[position] = answer(DataSet(), .failure(error), attributes: nil, base: base, logger: logger)
            }
        }
        for ((position, prepared), outcome) in zip(accepted, ingest.ingest(prepared: accepted.map(\.prepared))) {
            answers[position] = answer(item(prepared.attributes), outcome, attributes: prepared.attributes, base: base, logger: logger)
        }
        return answers.map { $0! }
    }

    private static func item(_ attributes: IndexedAttributes) -> DataSet {
        var item = DataSet()
        item.set(.referencedSOPClassUID, .UI, attributes.sopClassUID)
        item.set(.referencedSOPInstanceUID, .UI, attributes.sopInstanceUID)
        return item
    }

    /// A part's ReferencedSOPSequence item (true) or FailedSOPSequence item, from how its ingest went; a failure
    /// is logged with its reason (the answer carries only the status code).
    static func answer(_ item: DataSet, _ outcome: Result<IngestOutcome, IngestError>, attributes: IndexedAttributes?, base: String,
                       logger: Logger) -> (Item, Bool) {
        var item = item
        switch outcome {
        case let .success(outcome):
            if let attributes {
                item.set(.retrieveURL, .UR, "\(base)/studies/\(attributes.studyInstanceUID)/series/\(attributes.seriesInstanceUID)/instances/\(outcome.sopInstanceUID)")
            }
            if case .coerced = outcome { item.set(.warningReason, uint16: Status.coercionOfDataElements) }
            return (Item(item), true)
        case let .failure(error):
            logger.warning("STOW-RS part refused", metadata: ["sop": "\(attributes?.sopInstanceUID ?? "unreadable")", "reason": "\(error)"])
            switch error {
            case .malformed, .classMismatch, .instanceMismatch, .index: return (failure(item, 0xC000), false)
            case .conflict: return (failure(item, Status.conflictHeldAside), false)
            case .storage: return (failure(item, 0xA700), false)
            }
        }
    }

    static func failure(_ item: DataSet, _ reason: UInt16) -> Item {
        var item = item
        item.set(.failureReason, uint16: reason)
        return Item(item)
    }
}
