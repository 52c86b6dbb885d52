import Codecs
import DICOM
import Foundation
import Hummingbird
import HTTPTypes
import NIOCore

/// WADO-RS (PS3.18 10.4): instances, series and studies as multipart DICOM, their metadata as DICOM JSON,
/// frames and bulk data, rendered images and thumbnails. Each route asks the access gate for what it sends: V1 for
/// the original's pixels, any version for metadata, the chosen version for a rendering.
struct WADOController {
    let store: DataStore
    let policies: PolicyStore
    let gate: AccessGate
    /// Decodes originals for callers that want native pixels (in worker processes).
    let codecs: CodecRunner
    /// Runs blocking work (file and index reads) off the event loops.
    let blocking: BlockingPool
    let cache = InstanceCache()

    func addRoutes(to web: RouterGroup<StrataContext>) {
        let rendered = Rendered(store: store, policies: policies, gate: gate, codecs: codecs, blocking: blocking)
        for path in ["studies/:study", "studies/:study/series/:series", "studies/:study/series/:series/instances/:instance"] {
            web.get(RouterPath(path)) { request, context in
                try await retrieve(request, try await originals(context))
            }
            web.get(RouterPath("\(path)/metadata")) { request, context in
                let (found, status) = try await instances(context)
                try gate.checkMetadata(try context.caller, status: status)
                return try await metadata(request, found)
            }
            for (suffix, thumbnail) in [("rendered", false), ("thumbnail", true)] {
                web.get(RouterPath("\(path)/\(suffix)")) { request, context in
                    let (found, status) = try await instances(context)
                    return try await rendered.render(request, found, caller: try context.caller, place: try context.user.place, status: status,
                                                     thumbnail: thumbnail)
                }
            }
        }
        web.get("studies/:study/series/:series/instances/:instance/frames/:frames") { request, context in
            try await frames(request, try await originals(context)[0], list: context.parameters.require("frames"))
        }
        web.get("studies/:study/series/:series/instances/:instance/bulkdata/:tag") { _, context in
            guard context.parameters.get("tag")?.uppercased() == "7FE00010" else {
                throw HTTPError(.notFound, message: "only the pixel data (7FE00010) is bulk data here")
            }
            return try await bulkData(try await originals(context)[0])
        }
    }

    /// The instances a path names, once the gate let the caller have V1 (the original) of their study.
    func originals(_ context: StrataContext) async throws -> [InstanceSummary] {
        let (found, status) = try await instances(context)
        try gate.check(try context.caller, version: "V1", status: status)
        return found
    }

    /// The instances a path names and their study's status (for the gate, which each route asks).
    func instances(_ context: StrataContext) async throws -> (instances: [InstanceSummary], status: DiagnosisStatus) {
        let study = try context.parameters.require("study"), series = context.parameters.get("series")
        let instance = context.parameters.get("instance")
        for uid in [study, series, instance].compactMap({ $0 }) where !Self.isUID(uid) {
            throw HTTPError(.badRequest, message: "\(uid.prefix(80)) is not a UID")
        }
        var query = IndexQuery()
        query.studyInstanceUIDs = [study]
        if let series { query.seriesInstanceUIDs = [series] }
        if let instance { query.sopInstanceUIDs = [instance] }
        let index = store.index, gate = self.gate, caller = try context.caller
        let wanted = query
        // One instance is a quick indexed read, done in place (and kept a moment for the next frame's request);
        // a series or study goes to the blocking pool.
        let lookUp = { @Sendable () throws -> ([InstanceSummary], DiagnosisStatus?) in (try index.instances(matching: wanted), try gate.status(of: study, for: caller)) }
        let found: [InstanceSummary], status: DiagnosisStatus?
        if let instance, let cached = cache.instance(instance), cached.studyInstanceUID == study, series == nil || cached.seriesInstanceUID == series {
            (found, status) = ([cached], try gate.status(of: study, for: caller))
        } else if instance != nil {
            (found, status) = try lookUp()
            // Only an instance whose versions are all made is kept: one still being derived is looked up afresh.
            let versions = Set(policies.current.compression.versionNames)
            if found.count == 1, versions.isSubset(of: found[0].files.map(\.version)) { cache.keep(found[0]) }
        } else {
            (found, status) = try await blocking.run(lookUp)
        }
        guard !found.isEmpty, let status else { throw HTTPError(.notFound, message: "no such \(instance != nil ? "instance" : series != nil ? "series" : "study")") }
        return (found, status)
    }

    // MARK: Instances as application/dicom

    func retrieve(_ request: Request, _ instances: [InstanceSummary]) async throws -> Response {
        let syntax = try Self.negotiateSyntax(request.headers[.accept])
        let boundary = Multipart.boundary()
        let store = self.store
        // Check the first one before answering 200, so a syntax we cannot make is a 406, not a broken stream.
        if let first = instances.first { _ = try await Self.file(for: first, syntax: syntax, store: store, codecs: codecs, blocking: blocking) }
        var headers = HTTPFields()
        headers[.contentType] = "multipart/related; type=\"application/dicom\"; boundary=\(boundary)"
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            for instance in instances {
                let (bytes, uid) = try await Self.file(for: instance, syntax: syntax, store: store, codecs: codecs, blocking: blocking)
                try await writer.write(Multipart.partHeader(boundary: boundary, contentType: "application/dicom; transfer-syntax=\(uid)"))
                try await writer.write(ByteBuffer(bytes: bytes))
                try await writer.write(ByteBuffer(string: "\r\n"))
            }
            try await writer.write(Multipart.closing(boundary: boundary))
            try await writer.finish(nil)
        })
    }

    /// Which transfer syntax the Accept header asks for: nil for `*` (as stored); Explicit VR Little Endian
    /// when it names none (PS3.18 8.7.3.5.2).
    static func negotiateSyntax(_ accept: String?) throws -> String? {
        guard let accept, !accept.isEmpty else { return TransferSyntax.explicitVRLittleEndian.uid }
        for range in accept.split(separator: ",") {
            let (type, parameters) = Multipart.parameters(String(range))
            let inner = parameters["type"]?.lowercased() ?? type
            guard type == "*/*" || type == "application/dicom" || (type == "multipart/related" && inner == "application/dicom") else { continue }
            guard let syntax = parameters["transfer-syntax"] else { return TransferSyntax.explicitVRLittleEndian.uid }
            return syntax == "*" ? nil : syntax
        }
        throw HTTPError(.notAcceptable, message: "this resource is multipart/related; type=\"application/dicom\"")
    }

    /// The instance as a Part 10 file in the syntax asked for: a stored V1 file in that syntax as it is,
    /// else the original decompressed to a native syntax; 406 for a compressed syntax we do not hold.
    static func file(for instance: InstanceSummary, syntax: String?, store: DataStore, codecs: CodecRunner,
                     blocking: BlockingPool) async throws -> ([UInt8], String) {
        let originals = instance.files.filter { $0.version == "V1" }
        guard let original = originals.first(where: { $0.variant == IngestService.originalVariant }) else {
            throw HTTPError(.notFound, message: "instance \(instance.sopInstanceUID) has no original")
        }
        let chosen = syntax.map { wanted in originals.first { $0.transferSyntaxUID == wanted } } ?? original
        if let chosen {
            return (try await blocking.run { try store.read(chosen) }, chosen.transferSyntaxUID)
        }
        guard let uid = syntax, let target = TransferSyntax(uid: uid), !target.encapsulated, target.littleEndian else {
            throw HTTPError(.notAcceptable, message: "transfer syntax \(syntax ?? "") is not held for \(instance.sopInstanceUID); "
                            + "ask for transfer-syntax=* or \(TransferSyntax.explicitVRLittleEndian.uid)")
        }
        let bytes = try await blocking.run { () throws -> [UInt8] in
            let stored = try store.read(original)
            let file = try DicomFile.read(stored, skippingPixelData: true)
            return try file.header(syntax: target) + codecs.decompressed(stored, to: target)
        }
        return (bytes, target.uid)
    }

    // MARK: Metadata, frames, bulk data

    func metadata(_ request: Request, _ instances: [InstanceSummary]) async throws -> Response {
        let store = self.store
        let base = Self.baseURL(request)
        let json = try await blocking.run { () throws -> String in
            var dataSets: [DataSet] = []
            for instance in instances {
                guard let original = instance.files.first(where: { $0.variant == IngestService.originalVariant }) else { continue }
                dataSets.append(try Self.header(of: original, store: store))
            }
            return DICOMJSONEncoder(bulkDataURI: { path in
                path.count == 1 && path[0] == .pixelData ? "" : nil
            }).encode(dataSets).replacingBulkData(instances: instances, base: base)
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/dicom+json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: json)))
    }

    func frames(_ request: Request, _ instance: InstanceSummary, list: String) async throws -> Response {
        let numbers = list.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !numbers.isEmpty, numbers.count == list.split(separator: ",").count, numbers.allSatisfy({ $0 >= 1 }) else {
            throw HTTPError(.badRequest, message: "frames are numbered from 1, separated by commas")
        }
        guard numbers.allSatisfy({ $0 <= instance.numberOfFrames }) else {
            throw HTTPError(.notFound, message: "the instance has \(instance.numberOfFrames) frames")
        }
        let mediaType = Self.frameMediaType(request.headers[.accept])
        let store = self.store
        // Native frames at known offsets are a read of just their bytes, straight into the response: done in place.
        if mediaType == "application/octet-stream", let original = instance.files.first(where: { $0.variant == IngestService.originalVariant }),
           let layouts = original.frames, layouts.count >= numbers.max() ?? 0,
           TransferSyntax(uid: original.transferSyntaxUID)?.encapsulated == false {
            let boundary = Multipart.boundary()
            let partHeader = Multipart.partHeader(boundary: boundary, contentType: mediaType), lineEnd = ByteBuffer(string: "\r\n")
            var body: [ByteBuffer] = []
            for number in numbers {
                body += [partHeader, try store.frame(original, offset: layouts[number - 1].offset, length: layouts[number - 1].length), lineEnd]
            }
            body.append(Multipart.closing(boundary: boundary))
            var headers = HTTPFields()
            headers[.contentType] = "multipart/related; type=\"\(mediaType)\"; boundary=\(boundary)"
            return Response(status: .ok, headers: headers, body: .init(contentsOf: body))
        }
        let parts: [[UInt8]] = try await blocking.run {
            switch mediaType {
            case "image/jls":
                guard let copy = instance.files.first(where: { $0.transferSyntaxUID == TransferSyntax.jpegLSLossless.uid }) else {
                    throw HTTPError(.notAcceptable, message: "no JPEG-LS representation of this instance (yet)")
                }
                return try Self.codestreams(of: copy, frames: numbers, store: store)
            case "image/j2c":
                guard let j2k = instance.files.first(where: { $0.version == "V1" && $0.transferSyntaxUID.hasPrefix("1.2.840.10008.1.2.4.9") }) else {
                    throw HTTPError(.notAcceptable, message: "no lossless JPEG 2000 representation of this instance")
                }
                return try Self.codestreams(of: j2k, frames: numbers, store: store)
            default:
                return try Self.nativeFrames(of: instance, store: store, codecs: codecs, only: numbers)
            }
        }
        return Multipart.response(parts, type: mediaType)
    }

    /// The pixel data of an instance, native, as one octet-stream part.
    func bulkData(_ instance: InstanceSummary) async throws -> Response {
        let store = self.store
        let pixels = try await blocking.run { Array(try Self.nativeFrames(of: instance, store: store, codecs: codecs).joined()) }
        return Multipart.response([pixels], type: "application/octet-stream")
    }

    /// The frames of the original as native cells: read straight from their offsets when it is stored
    /// native, decoded otherwise.
    static func nativeFrames(of instance: InstanceSummary, store: DataStore, codecs: CodecRunner, only numbers: [Int]? = nil) throws -> [[UInt8]] {
        guard let original = instance.files.first(where: { $0.variant == IngestService.originalVariant }) else { return [] }
        let wanted = numbers ?? Array(1...max(1, instance.numberOfFrames))
        if let layouts = original.frames, TransferSyntax(uid: original.transferSyntaxUID)?.encapsulated == false, layouts.count >= wanted.max() ?? 0 {
            return try wanted.map { try store.read(original, offset: layouts[$0 - 1].offset, length: layouts[$0 - 1].length) }
        }
        return try codecs.frames(try store.read(original), numbers: wanted)
    }

    /// The dataset without its pixels, read from the bytes before the Pixel Data element when the index
    /// knows where it starts; the pixel data stays as an empty element for the BulkDataURI.
    static func header(of file: StoredFile, store: DataStore) throws -> DataSet {
        guard let length = file.headerLength, length > 0 else { return try DicomFile.read(try store.read(file)).dataSet }
        var dataSet = try DicomFile.read(try store.read(file, offset: 0, length: length)).dataSet
        let bits = dataSet.int(.bitsAllocated) ?? 16
        dataSet.set(Element(tag: .pixelData, vr: bits > 8 ? .OW : .OB, bytes: []))
        return dataSet
    }

    /// Each frame's codestream, sliced at the offsets the index recorded.
    static func codestreams(of file: StoredFile, frames: [Int], store: DataStore) throws -> [[UInt8]] {
        let bytes = try store.read(file)
        if let layouts = file.frames {
            return try frames.map { number in
                guard number <= layouts.count else { throw HTTPError(.notFound, message: "no frame \(number)") }
                let layout = layouts[number - 1]
                return Array(bytes[layout.offset..<layout.offset + layout.length])
            }
        }
        let parsed = try DicomFile.read(bytes)
        guard let fragments = parsed.dataSet[.pixelData]?.fragments else { throw HTTPError(.notFound, message: "no encapsulated pixel data") }
        let all = try PixelFrames.split(fragments, frames: parsed.dataSet.int(.numberOfFrames) ?? 1, dataSet: parsed.dataSet)
        return frames.map { all[$0 - 1] }
    }

    static func frameMediaType(_ accept: String?) -> String {
        for range in (accept ?? "").split(separator: ",") {
            let (type, parameters) = Multipart.parameters(String(range))
            let inner = type == "multipart/related" ? (parameters["type"]?.lowercased() ?? "application/octet-stream") : type
            if ["image/jls", "image/j2c", "image/jp2", "application/octet-stream"].contains(inner) { return inner == "image/jp2" ? "image/j2c" : inner }
        }
        return "application/octet-stream"
    }

    static func baseURL(_ request: Request) -> String {
        "http://\(request.head.authority ?? request.headers[HTTPField.Name("Host")!] ?? "localhost")/dicom-web"
    }

    /// Digits in dot-separated components (PS3.5 9.1), at most 64 characters.
    static func isUID(_ text: String) -> Bool {
        let dot = UInt8(ascii: ".")
        var previous = dot, length = 0
        for byte in text.utf8 {
            guard byte == dot ? previous != dot : (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return false }
            previous = byte
            length += 1
        }
        return (1...64).contains(length) && previous != dot
    }
}

private extension String {
    /// Fills the empty BulkDataURI placeholders, one per instance in order, with each instance's URL.
    func replacingBulkData(instances: [InstanceSummary], base: String) -> String {
        var out = ""
        var rest = Substring(self)
        var index = 0
        let marker = "\"BulkDataURI\":\"\""
        while let range = rest.range(of: marker) {
            out += rest[..<range.lowerBound]
            let instance = instances[min(index, instances.count - 1)]
            out += "\"BulkDataURI\":\"\(base)/studies/\(instance.studyInstanceUID)/series/\(instance.seriesInstanceUID)/instances/\(instance.sopInstanceUID)/bulkdata/7FE00010\""
            rest = rest[range.upperBound...]
            index += 1
        }
        return out + rest
    }
}
