import Codecs
import DICOM
import Hummingbird
import HTTPTypes
import NIOCore

/// The versions API (`/api/v1/.../versions`, `/frames`): every version of an image with its parameters and
/// whether the caller may have it, and frames by version, quality or purpose, cut at a resolution level by
/// byte slicing (never re-encoding), with ranges and ETags so a client fetches each level's bytes once.
struct VersionsController {
    let store: DataStore
    let policies: PolicyStore
    let gate: AccessGate
    /// Decodes originals for a caller that wants native pixels (in worker processes).
    let codecs: CodecRunner
    /// Runs blocking work (file and index reads) off the event loops.
    let blocking: BlockingPool

    func addRoutes(to api: RouterGroup<StrataContext>) {
        for scope in [Scope.studies, .series, .instances] {
            api.get(RouterPath("\(scope.rawValue)/:\(scope.parameter)/versions")) { _, context in
                try await list(scope, context.parameters.require(scope.parameter), caller: try context.caller)
            }
        }
        for scope in [Scope.studies, .series] {
            api.get(RouterPath("\(scope.rawValue)/:\(scope.parameter)/frames")) { request, context in
                try await frames(request, scope, context.parameters.require(scope.parameter), caller: try context.caller,
                                 place: try context.user.place)
            }
        }
        api.get("instances/:sop") { request, context in
            try await object(request, sop: context.parameters.require("sop"), caller: try context.caller, place: try context.user.place)
        }
        api.get("instances/:sop/frames/:frame") { request, context in
            guard let number = Int(try context.parameters.require("frame")) else { throw HTTPError(.badRequest, message: "frames are numbered from 1") }
            return try await frame(request, sop: context.parameters.require("sop"), number: number, caller: try context.caller,
                                   place: try context.user.place)
        }
    }

    enum Scope: String {
        case studies, series, instances

        /// The path parameter naming it, as the other routes call it.
        var parameter: String { self == .studies ? "study" : self == .series ? "series" : "sop" }

        func query(_ uid: String) -> IndexQuery {
            var query = IndexQuery()
            switch self {
            case .studies: query.studyInstanceUIDs = [uid]
            case .series: query.seriesInstanceUIDs = [uid]
            case .instances: query.sopInstanceUIDs = [uid]
            }
            return query
        }
    }

    /// The instances a scope names, in instance order, and their study's status; a study hidden from the caller is not
    /// found.
    func instances(_ scope: Scope, _ uid: String, caller: Caller) async throws -> (instances: [InstanceSummary], status: DiagnosisStatus) {
        guard WADOController.isUID(uid) else { throw HTTPError(.badRequest, message: "\(uid.prefix(80)) is not a UID") }
        let index = store.index, gate = self.gate
        let query = scope.query(uid)
        let (found, status) = try await blocking.run { () throws -> ([InstanceSummary], DiagnosisStatus?) in
            let found = try index.instances(matching: query)
            return (found, try found.first.flatMap { try gate.status(of: $0.studyInstanceUID, for: caller) })
        }
        guard !found.isEmpty, let status else { throw HTTPError(.notFound, message: "no such \(scope == .studies ? "study" : scope == .series ? "series" : "instance")") }
        let ordered = found.sorted {
            ($0.seriesInstanceUID, $0.instanceNumber ?? .max, $0.sopInstanceUID) < ($1.seriesInstanceUID, $1.instanceNumber ?? .max, $1.sopInstanceUID)
        }
        return (ordered, status)
    }

    // MARK: Listing

    struct Level: Encodable {
        var level: Int
        var width: Int
        var height: Int
        /// Where the level's data ends in the codestream: bytes [0, end) and an EOC marker (FF D9) decode to this level.
        var end: Int
    }

    struct Version: Encodable {
        var name: String
        var variant: String
        var quality: Int
        var purpose: String
        var transferSyntax: String
        var ratio: Double?
        var psnr: Double?
        var maxError: Int?
        var size: Int
        var tier: String
        var sopInstanceUID: String?
        /// The first frame's resolution levels, smallest first (JPEG 2000 versions).
        var levels: [Level]?
        var allowed: Bool
        /// Why not, naming the access.yaml rule; or which rule allows it.
        var rule: String
    }

    struct Instance: Encodable {
        var sopInstanceUID: String
        var seriesInstanceUID: String
        var instanceNumber: Int?
        var rows: Int?
        var columns: Int?
        var frames: Int
        var versions: [Version]
        /// Versions not made (yet): pending, or why they could not be.
        var missing: [String: String]?
    }

    struct Listing: Encodable {
        var study: String
        var status: DiagnosisStatus
        var statusName: String
        /// The study's notes, annotations and report.
        var diagnostic: String
        var instances: [Instance]
    }

    /// Every version of every image the scope names, with whether the caller may fetch it now (a study hidden from the
    /// caller is not found).
    func list(_ scope: Scope, _ uid: String, caller: Caller) async throws -> Response {
        let (instances, status) = try await instances(scope, uid, caller: caller)
        let policies = policies.current
        let catalogue = Dictionary(uniqueKeysWithValues: policies.compression.versions.map { ($0.name, $0) })
        let index = store.index
        let expected = Set(policies.compression.versionNames)
        var listed: [Instance] = []
        for instance in instances {
            let versions = instance.files.map { file in
                let decision = gate.decision(caller, version: file.version, status: status)
                let levels = file.frames?.first.flatMap { layout -> [Level]? in
                    guard let ends = layout.levelEnds, let sizes = layout.levelSizes, ends.count == sizes.count else { return nil }
                    return zip(ends, sizes).enumerated().map { Level(level: $0.offset, width: $0.element.1[0], height: $0.element.1[1], end: $0.element.0) }
                }
                return Version(name: file.version, variant: file.variant, quality: file.quality ?? catalogue[file.version]?.quality ?? 100,
                               purpose: file.purpose ?? catalogue[file.version]?.purpose.rawValue ?? Purpose.diagnosis.rawValue,
                               transferSyntax: file.transferSyntaxUID, ratio: file.achievedRatio, psnr: file.psnr, maxError: file.maxError,
                               size: file.size, tier: file.tier, sopInstanceUID: file.sopInstanceUID, levels: levels, allowed: decision.allowed,
                               rule: decision.allowed ? decision.rule : "not released to \(caller.role.rawValue) users while the study is \(status.name) (\(decision.rule))")
            }
            var missing: [String: String]?
            let held = Set(instance.files.map(\.version))
            if !expected.isSubset(of: held) {
                let derivation = try await blocking.run { try index.derivation(sopInstanceUID: instance.sopInstanceUID) }
                missing = Dictionary(uniqueKeysWithValues: expected.subtracting(held).map { ($0, derivation.missing[$0] ?? "derivation \(derivation.state)") })
            }
            listed.append(Instance(sopInstanceUID: instance.sopInstanceUID, seriesInstanceUID: instance.seriesInstanceUID,
                                   instanceNumber: instance.instanceNumber, rows: instance.rows, columns: instance.columns,
                                   frames: instance.numberOfFrames, versions: versions, missing: missing))
        }
        let study = instances[0].studyInstanceUID
        return try HTTPService.json(Listing(study: study, status: status, statusName: status.name,
                                            diagnostic: "/api/v1/studies/\(study)/diagnostic", instances: listed))
    }

    // MARK: Frames

    /// One frame of one version as the client will receive it.
    struct FramePart: Sendable {
        var sopInstanceUID: String
        var frame: Int
        var file: StoredFile
        var mediaType: String
        /// Resolution level sent, of how many, and its size; nil for versions without levels.
        var level: Int?
        var levelCount: Int?
        var size: [Int]?
        /// The full codestream's length, and where this level's and the next level's data end in it,
        /// for the client's range requests.
        var fullLength: Int
        var levelEnd: Int?
        var nextEnd: Int?
        var etag: String
        var read: @Sendable () throws -> [UInt8]
    }

    func frame(_ request: Request, sop: String, number: Int, caller: Caller, place: String?) async throws -> Response {
        let (instances, status) = try await instances(.instances, sop, caller: caller)
        let instance = instances[0]
        guard number >= 1, number <= instance.numberOfFrames else {
            throw HTTPError(.notFound, message: "frames are numbered 1 to \(instance.numberOfFrames)")
        }
        let selection = try VersionSelection.choose(request, caller: caller, place: place, status: status, policies: policies.current, gate: gate)
        let part = try await self.part(of: instance, frame: number, selection: selection, accept: request.headers[.accept])
        let bytes = try await blocking.run(part.read)
        var headers = Self.headers(for: part, rule: selection.rule)
        headers[.contentType] = part.mediaType
        headers[HTTPField.Name("Link")!] = "</api/v1/studies/\(instance.studyInstanceUID)/diagnostic>; rel=\"describedby\""
        return try ByteRange.response(bytes, request: request, etag: part.etag, headers: headers)
    }

    /// Level k of every frame of a series or study, one version for all, streamed in instance order.
    func frames(_ request: Request, _ scope: Scope, _ uid: String, caller: Caller, place: String?) async throws -> Response {
        let (instances, status) = try await instances(scope, uid, caller: caller)
        let selection = try VersionSelection.choose(request, caller: caller, place: place, status: status, policies: policies.current, gate: gate)
        let accept = request.headers[.accept].map { accept in
            accept.contains("type=") ? Multipart.parameters(accept).parameters["type"] ?? accept : accept
        }
        var parts: [FramePart] = []
        for instance in instances {
            for number in 1...max(1, instance.numberOfFrames) {
                parts.append(try await part(of: instance, frame: number, selection: selection, accept: accept))
            }
        }
        let boundary = Multipart.boundary()
        var headers = HTTPFields()
        headers[.contentType] = "multipart/related; type=\"\(parts.first?.mediaType ?? "image/j2c")\"; boundary=\(boundary)"
        headers[HTTPField.Name("X-Strata-Version")!] = selection.version
        headers[HTTPField.Name("X-Strata-Delivery-Rule")!] = selection.rule
        headers[HTTPField.Name("Link")!] = "</api/v1/studies/\(instances[0].studyInstanceUID)/diagnostic>; rel=\"describedby\""
        let described = parts.map { part in
            (part, Self.headers(for: part, rule: selection.rule).map { "\($0.name): \($0.value)" }
                + ["Content-Location: /api/v1/instances/\(part.sopInstanceUID)/frames/\(part.frame)", "ETag: \(part.etag)"])
        }
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            for (part, extra) in described {
                let bytes = try await blocking.run(part.read)
                try await writer.write(Multipart.partHeader(boundary: boundary, contentType: part.mediaType, extra: extra))
                try await writer.write(ByteBuffer(bytes: bytes))
                try await writer.write(ByteBuffer(string: "\r\n"))
            }
            try await writer.write(Multipart.closing(boundary: boundary))
            try await writer.finish(nil)
        })
    }

    private static func headers(for part: FramePart, rule: String) -> HTTPFields {
        var headers = HTTPFields()
        headers[HTTPField.Name("X-Strata-Version")!] = part.file.version
        headers[HTTPField.Name("X-Strata-Delivery-Rule")!] = rule
        headers[HTTPField.Name("X-Strata-Codestream-Length")!] = "\(part.fullLength)"
        if let level = part.level, let count = part.levelCount, let size = part.size, let end = part.levelEnd {
            headers[HTTPField.Name("X-Strata-Level")!] = "\(level)"
            headers[HTTPField.Name("X-Strata-Levels")!] = "\(count)"
            headers[HTTPField.Name("X-Strata-Level-Size")!] = "\(size[0])x\(size[1])"
            // Bytes [0, end) of the full codestream are this level's; a Range on the full codestream (no level=)
            // for the next-level range adds exactly the next level to them.
            headers[HTTPField.Name("X-Strata-Level-Range")!] = "bytes=0-\(end - 1)"
            if let next = part.nextEnd { headers[HTTPField.Name("X-Strata-Next-Level-Range")!] = "bytes=\(end)-\(next - 1)" }
        }
        return headers
    }

    /// What to send of one frame of the selected version: a J2K version cut at the selected level; V1 as its
    /// JPEG-LS copy or native, per Accept.
    func part(of instance: InstanceSummary, frame number: Int, selection: VersionSelection, accept: String?) async throws -> FramePart {
        let store = self.store
        if selection.version == "V1" { return try v1Part(of: instance, frame: number, accept: accept) }
        guard let file = instance.files.first(where: { $0.version == selection.version }) else {
            throw try await notMade(selection.version, of: instance)
        }
        guard let layout = file.frames?[safe: number - 1] else {
            throw HTTPError(.internalServerError, message: "the index has no frame layout for \(selection.version) of \(instance.sopInstanceUID): run pacs verify")
        }
        let tag = file.sha256.prefix(16)
        guard let ends = layout.levelEnds, let sizes = layout.levelSizes, ends.count == sizes.count, !ends.isEmpty else {
            return FramePart(sopInstanceUID: instance.sopInstanceUID, frame: number, file: file, mediaType: "image/j2c", fullLength: layout.length,
                             etag: "\"\(tag)-\(number)\"", read: { try store.read(file, offset: layout.offset, length: layout.length) })
        }
        let level = selection.level(sizes: sizes)
        let top = ends.count - 1
        let end = ends[level]
        // Level k's body is the codestream's bytes up to the end of level k's tile-part, closed with an EOC
        // marker (OpenJPEG decodes a prefix only so: DOMAIN.md); at the top level that is the whole codestream.
        return FramePart(sopInstanceUID: instance.sopInstanceUID, frame: number, file: file, mediaType: "image/j2c", level: level,
                         levelCount: ends.count, size: sizes[level], fullLength: ends[top] + 2, levelEnd: end,
                         nextEnd: level < top ? ends[level + 1] : nil, etag: "\"\(tag)-\(number)-\(level)\"",
                         read: { try store.read(file, offset: layout.offset, length: end) + [0xFF, 0xD9] })
    }

    private func v1Part(of instance: InstanceSummary, frame number: Int, accept: String?) throws -> FramePart {
        let store = self.store
        let accept = accept?.lowercased() ?? "*/*"
        let native = accept.contains("application/octet-stream") && !accept.contains("image/jls")
        if !native, let copy = instance.files.first(where: { $0.version == "V1" && $0.transferSyntaxUID == TransferSyntax.jpegLSLossless.uid }),
           let layout = copy.frames?[safe: number - 1] {
            return FramePart(sopInstanceUID: instance.sopInstanceUID, frame: number, file: copy, mediaType: "image/jls", fullLength: layout.length,
                             etag: "\"\(copy.sha256.prefix(16))-\(number)\"", read: { try store.read(copy, offset: layout.offset, length: layout.length) })
        }
        guard native || accept.contains("*/*") || accept.contains("application/octet-stream") else {
            throw HTTPError(.notAcceptable, message: "V1 frames are image/jls (once the lossless copy is made) or application/octet-stream")
        }
        guard let original = instance.files.first(where: { $0.variant == IngestService.originalVariant }) else {
            throw HTTPError(.notFound, message: "instance \(instance.sopInstanceUID) has no original")
        }
        return FramePart(sopInstanceUID: instance.sopInstanceUID, frame: number, file: original, mediaType: "application/octet-stream",
                         fullLength: original.frames?[safe: number - 1]?.length ?? 0, etag: "\"\(original.sha256.prefix(16))-\(number)-native\"",
                         read: { try WADOController.nativeFrames(of: instance, store: store, codecs: codecs, only: [number])[0] })
    }

    /// The whole object of a version as application/dicom: V1 as the original or its JPEG-LS copy (or
    /// decompressed), per the Accept header's transfer-syntax; a lossy version as the DICOM object derived.
    func object(_ request: Request, sop: String, caller: Caller, place: String?) async throws -> Response {
        let (instances, status) = try await instances(.instances, sop, caller: caller)
        let instance = instances[0]
        let selection = try VersionSelection.choose(request, caller: caller, place: place, status: status, policies: policies.current, gate: gate)
        let store = self.store
        let bytes: [UInt8], syntax: String, tag: String
        if selection.version == "V1" {
            let accept = request.headers[.accept]
            let wanted = accept?.contains("transfer-syntax") == true ? try WADOController.negotiateSyntax(accept) : nil
            (bytes, syntax) = try await WADOController.file(for: instance, syntax: wanted, store: store, codecs: codecs, blocking: blocking)
            tag = instance.files.first { $0.version == "V1" && $0.transferSyntaxUID == syntax }?.sha256 ?? "\(syntax)-decoded"
        } else {
            guard let file = instance.files.first(where: { $0.version == selection.version }) else {
                throw try await notMade(selection.version, of: instance)
            }
            bytes = try await blocking.run { try store.read(file) }
            (syntax, tag) = (file.transferSyntaxUID, file.sha256)
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/dicom; transfer-syntax=\(syntax)"
        headers[HTTPField.Name("X-Strata-Version")!] = selection.version
        headers[HTTPField.Name("X-Strata-Delivery-Rule")!] = selection.rule
        return try ByteRange.response(bytes, request: request, etag: "\"\(tag.prefix(24))\"", headers: headers)
    }

    /// Why a version is not there: still being made (503, and it moves to the front of the queue) or not makeable.
    private func notMade(_ version: String, of instance: InstanceSummary) async throws -> HTTPError {
        let index = store.index
        let sop = instance.sopInstanceUID
        let derivation = try await blocking.run { () throws -> DerivationStatus in
            let status = try index.derivation(sopInstanceUID: sop)
            if status.state != "done" { try index.prioritizeDerivation(sopInstanceUID: sop) }
            return status
        }
        if derivation.state != "done" {
            return HTTPError(.serviceUnavailable, headers: [.retryAfter: "2"], message: "\(version) of \(sop) is being made; retry shortly")
        }
        return HTTPError(.notFound, message: "\(version) of \(sop) could not be made: \(derivation.missing[version] ?? "not in compression.yaml when it was derived")")
    }
}
