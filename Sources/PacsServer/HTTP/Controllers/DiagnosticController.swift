import Foundation
import Hummingbird

/// `/api/v1/studies/{study}/diagnostic`, `/notes`, `/annotations`, `/report`: what reading doctors record about
/// a study, versioned with author and time. Writing an entry raises the study's status to its kind's.
struct DiagnosticController {
    let store: DataStore
    let gate: AccessGate
    let events: EventHub
    /// Runs blocking work (file and index reads) off the event loops.
    let blocking: BlockingPool

    func addRoutes(to api: RouterGroup<StrataContext>) {
        api.get("studies/:study/diagnostic") { request, context in
            try await get(request, study: context.parameters.require("study"), caller: try context.caller)
        }
        let writers = api.group().only(.reading, .admin, refusal: "only reading doctors and admins write notes, annotations and reports")
        // Notes and annotations alike: POST adds an item, PUT revises it, DELETE retracts it.
        for (kind, write) in [("notes", note), ("annotations", annotation)] {
            writers.post(RouterPath("studies/:study/\(kind)")) { request, context in
                try await write(request, context.parameters.require("study"), nil, false, context)
            }
            writers.put(RouterPath("studies/:study/\(kind)/:item")) { request, context in
                try await write(request, context.parameters.require("study"), context.parameters.require("item"), false, context)
            }
            writers.delete(RouterPath("studies/:study/\(kind)/:item")) { request, context in
                try await write(request, context.parameters.require("study"), context.parameters.require("item"), true, context)
            }
        }
        writers.put("studies/:study/report") { request, context in
            try await report(request, study: context.parameters.require("study"), context: context)
        }
    }

    /// A shape of an annotation, in image pixel coordinates (x to the right, y down, origin top left).
    struct Shape: Codable, Equatable {
        var type: String
        var x: Double?
        var y: Double?
        /// `line`: two or more points (a polyline).
        var points: [[Double]]?
        /// `ellipse`: its centre and its two radii along x and y.
        var center: [Double]?
        var radii: [Double]?
        /// `text`: the words shown at (x, y); any shape may carry a label.
        var text: String?
        var label: String?
    }

    struct NoteBody: Decodable { var text: String }
    struct AnnotationBody: Decodable {
        var instance: String?
        var frame: Int?
        var shapes: [Shape]
    }

    /// One item as the API shows it: its latest revision (or each revision in the history).
    struct Item: Encodable {
        var id: String
        var kind: String
        var revision: Int
        var author: String
        var at: String
        var retracted: Bool
        var text: String?
        var instance: String?
        var frame: Int?
        var shapes: [Shape]?
    }

    struct Answer: Encodable {
        var study: String
        var status: DiagnosisStatus
        var statusName: String
        var notes: [Item]
        var annotations: [Item]
        var report: Item?
        var history: [Item]?
    }

    // MARK: Reading

    /// Notes, annotations and the report are clinical content: no more released than the study's images.
    func get(_ request: Request, study: String, caller: Caller) async throws -> Response {
        let history = request.uri.queryParameters["history"].map { $0 == "true" || $0 == "1" } ?? false
        let index = store.index, gate = self.gate
        let (status, latest, all) = try await blocking.run { () throws -> (DiagnosisStatus?, [DiagnosticEntry], [DiagnosticEntry]?) in
            (try gate.status(of: study, for: caller), try index.diagnostics(studyInstanceUID: study, history: false),
             history ? try index.diagnostics(studyInstanceUID: study, history: true) : nil)
        }
        guard let status else { throw HTTPError(.notFound, message: "no study \(study)") }
        try gate.checkMetadata(caller, status: status)
        let current = latest.filter { $0.body != nil }.map(Self.item)
        return try HTTPService.json(Answer(study: study, status: status, statusName: status.name,
                      notes: current.filter { $0.kind == DiagnosticKind.note.rawValue },
                      annotations: current.filter { $0.kind == DiagnosticKind.annotation.rawValue },
                      report: current.first { $0.kind == DiagnosticKind.report.rawValue },
                      history: all?.map(Self.item)))
    }

    // MARK: Writing

    /// Adds a note (`item` nil) or a revision of one; `text` nil retracts it.
    func note(_ request: Request, study: String, item: String?, retract: Bool = false, context: StrataContext) async throws -> Response {
        let text = retract ? nil : try await request.decode(as: NoteBody.self, context: context).text
        if let text, text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw HTTPError(.badRequest, message: "a note needs text")
        }
        return try await add(kind: .note, study: study, item: item, body: text, context: context)
    }

    func report(_ request: Request, study: String, context: StrataContext) async throws -> Response {
        let text = try await request.decode(as: NoteBody.self, context: context).text
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw HTTPError(.badRequest, message: "a report needs text") }
        return try await add(kind: .report, study: study, item: "report", body: text, context: context)
    }

    func annotation(_ request: Request, study: String, item: String?, retract: Bool = false, context: StrataContext) async throws -> Response {
        guard !retract else { return try await add(kind: .annotation, study: study, item: item, body: nil, context: context) }
        let body = try await request.decode(as: AnnotationBody.self, context: context)
        guard item != nil || body.instance != nil else { throw HTTPError(.badRequest, message: "an annotation names its instance") }
        if let sop = body.instance {
            var wanted = IndexQuery()
            wanted.sopInstanceUIDs = [sop]
            let index = store.index, query = wanted
            guard let instance = try await blocking.run({ try index.instances(matching: query) }).first else {
                throw HTTPError(.notFound, message: "no instance \(sop)")
            }
            try Self.validate(body.shapes, frame: body.frame, on: instance)
        } else {
            try Self.validate(body.shapes, frame: body.frame, on: nil)
        }
        let shapes = String(decoding: try JSONEncoder().encode(body.shapes), as: UTF8.self)
        return try await add(kind: .annotation, study: study, item: item, body: shapes, sop: body.instance, frame: body.frame, context: context)
    }

    private func add(kind: DiagnosticKind, study: String, item: String?, body: String?, sop: String? = nil, frame: Int? = nil,
                     context: StrataContext) async throws -> Response {
        let user = try context.user
        let entry = DiagnosticEntry(item: item ?? "", kind: kind, revision: 0, sopInstanceUID: sop, frame: frame, body: body,
                                    author: user.name, at: Date().timeIntervalSince1970)
        let index = store.index
        let recorded = try await blocking.run { try index.addDiagnostic(entry, studyInstanceUID: study) }
        events.studyChanged(study, reason: "\(kind.rawValue) written")
        return try HTTPService.json(Self.item(recorded), status: item == nil ? .created : .ok)
    }

    /// Shapes must be well formed and lie on the image.
    static func validate(_ shapes: [Shape], frame: Int?, on instance: InstanceSummary?) throws {
        guard !shapes.isEmpty else { throw HTTPError(.badRequest, message: "an annotation has at least one shape") }
        if let frame, frame < 1 || frame > (instance?.numberOfFrames ?? Int.max) {
            throw HTTPError(.badRequest, message: "frame \(frame) is not in the image (frames are numbered from 1)")
        }
        let width = Double(instance?.columns ?? Int.max), height = Double(instance?.rows ?? Int.max)
        func onImage(_ point: [Double]?, _ what: String) throws {
            guard let point, point.count == 2 else { throw HTTPError(.badRequest, message: "\(what) is [x, y]") }
            guard (0...width).contains(point[0]), (0...height).contains(point[1]) else {
                throw HTTPError(.badRequest, message: "\(what) (\(point[0]), \(point[1])) lies outside the \(Int(width))x\(Int(height)) image")
            }
        }
        for (number, shape) in shapes.enumerated() {
            let name = "shape \(number + 1) (\(shape.type))"
            switch shape.type {
            case "point":
                try onImage(shape.x.flatMap { x in shape.y.map { [x, $0] } }, "\(name) x, y")
            case "text":
                try onImage(shape.x.flatMap { x in shape.y.map { [x, $0] } }, "\(name) x, y")
                guard shape.text?.isEmpty == false else { throw HTTPError(.badRequest, message: "\(name) needs text") }
            case "line":
                guard let points = shape.points, points.count >= 2 else { throw HTTPError(.badRequest, message: "\(name) needs two or more points") }
                for point in points { try onImage(point, "a point of \(name)") }
            case "ellipse":
                try onImage(shape.center, "\(name) center")
                guard let radii = shape.radii, radii.count == 2, radii.allSatisfy({ $0 > 0 }) else {
                    throw HTTPError(.badRequest, message: "\(name) radii are [rx, ry], both > 0")
                }
            default:
                throw HTTPError(.badRequest, message: "\(name): shapes are point, line, ellipse or text")
            }
        }
    }

    static func item(_ entry: DiagnosticEntry) -> Item {
        var shapes: [Shape]?
        if entry.kind == .annotation, let body = entry.body {
            shapes = try? JSONDecoder().decode([Shape].self, from: Data(body.utf8))
        }
        return Item(id: entry.item, kind: entry.kind.rawValue, revision: entry.revision, author: entry.author,
                    at: Date(timeIntervalSince1970: entry.at).formatted(.iso8601), retracted: entry.body == nil,
                    text: entry.kind == .annotation ? nil : entry.body, instance: entry.sopInstanceUID, frame: entry.frame, shapes: shapes)
    }
}
