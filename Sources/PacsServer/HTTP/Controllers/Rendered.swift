import Codecs
import DICOM
import Foundation
import Hummingbird
import HTTPTypes
import NIOCore

/// `/rendered` and `/thumbnail` (PS3.18 10.4.1.1.3, 10.7): JPEG or PNG with the Modality LUT, the VOI window
/// and MONOCHROME1 inversion, made from the smallest stored version and resolution level that covers the
/// requested viewport among the versions the delivery policy offers the user (a thumbnail decodes a 64-128 pixel
/// level of a lossy version, not the original, whenever a lossy version is offered).
struct Rendered {
    let store: DataStore
    let policies: PolicyStore
    let gate: AccessGate
    /// Decodes an original (in worker processes) when no lossy version's level serves.
    let codecs: CodecRunner
    /// Runs blocking work (file and index reads) off the event loops.
    let blocking: BlockingPool

    func render(_ request: Request, _ instances: [InstanceSummary], caller: Caller, place: String?, status: DiagnosisStatus,
                thumbnail: Bool) async throws -> Response {
        let parameters = request.uri.queryParameters
        let viewport = parameters["viewport"].flatMap { text -> Int? in
            text.split(separator: ",").compactMap { Int($0) }.max()
        } ?? (thumbnail ? 128 : nil)
        let window = try parameters["window"].map { text -> Renderer.Window in
            let parts = text.split(separator: ",").prefix(2).joined(separator: ",")
            guard let window = Renderer.Window(text: String(parts)) else {
                throw HTTPError(.badRequest, message: "window is center,width (with width > 0)")
            }
            return window
        }
        let quality = parameters["quality"].flatMap { Int($0) } ?? 90
        let png = Self.wantsPNG(request.headers[.accept])
        // A series or study renders as its middle image.
        let instance = instances[instances.count / 2]
        let source = try choose(instance, request: request, viewport: viewport, caller: caller, place: place, status: status)
        let store = self.store, codecs = self.codecs
        let image = try await blocking.run { () throws -> RenderedImage in
            let bytes = try store.read(source.file)
            if let layout = source.file.frames?.first, let ends = layout.levelEnds, let level = source.level {
                // A level of one of our own lossy versions: decoded here (the worker decodes what was received).
                let renderer = Renderer(try DicomFile.read(bytes, skippingPixelData: true).dataSet, window: window)
                let codestream = Array(bytes[layout.offset..<layout.offset + layout.length])
                let prefix = Array(codestream[..<ends[level]]) + (ends[level] < codestream.count ? [0xFF, 0xD9] : [])
                let decoded = try JPEG2000.decode(prefix, reduce: ends.count - 1 - level)
                return renderer.render(decoded.values, width: decoded.width, height: decoded.height, components: decoded.components)
            }
            return try codecs.rendered(bytes, window: window)
        }
        let fitted = viewport.map { image.fitted(into: $0) } ?? image
        var headers = HTTPFields()
        headers[.contentType] = png ? "image/png" : "image/jpeg"
        headers[HTTPField.Name("X-Strata-Source")!] = "\(source.file.version)\(source.level.map { " level \($0)" } ?? "")"
        let body = png ? fitted.png() : try fitted.jpeg(quality: quality)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The allowed stored file (and J2K level) with the fewest pixels that still cover the viewport;
    /// without a viewport, the best quality the user may have.
    private func choose(_ instance: InstanceSummary, request: Request, viewport: Int?, caller: Caller, place: String?,
                        status: DiagnosisStatus) throws -> (file: StoredFile, level: Int?) {
        // Only versions the delivery policy offers this caller (a referring doctor's V2 and V3, never an original
        // the matrix happens to allow), and only those the access gate allows now.
        let decision = VersionSelection.delivery(request, caller: caller, place: place, status: status, policies: policies.current, gate: gate,
                                                 display: viewport)
        guard decision.version != nil else { throw VersionSelection.refusal(decision, caller: caller, status: status, gate: gate) }
        let offered = Set(decision.candidates.filter { gate.decision(caller, version: $0, status: status).allowed })
        let allowed = instance.files.filter { offered.contains($0.version) }
        guard !allowed.isEmpty else {
            throw HTTPError(.notFound, message: "\(offered.sorted().joined(separator: ", ")) of \(instance.sopInstanceUID) not made yet; retry shortly")
        }
        if let viewport {
            var best: (file: StoredFile, level: Int, pixels: Int)?
            for file in allowed {
                guard let sizes = file.frames?.first?.levelSizes else { continue }
                for (level, size) in sizes.enumerated() where size.count == 2 && (size[0] >= viewport || size[1] >= viewport || level == sizes.count - 1) {
                    let pixels = size[0] * size[1]
                    if best == nil || pixels < best!.pixels || (pixels == best!.pixels && (file.quality ?? 100) < (best!.file.quality ?? 100)) {
                        best = (file, level, pixels)
                    }
                    break
                }
            }
            if let best { return (best.file, best.level) }
        }
        let byQuality = allowed.sorted { ($0.quality ?? 100, $0.variant == IngestService.originalVariant ? 1 : 0) > ($1.quality ?? 100, $1.variant == IngestService.originalVariant ? 1 : 0) }
        return (byQuality[0], nil)
    }


    static func wantsPNG(_ accept: String?) -> Bool {
        guard let accept else { return false }
        let png = accept.range(of: "image/png"), jpeg = accept.range(of: "image/jpeg")
        if let png, let jpeg { return png.lowerBound < jpeg.lowerBound }
        return png != nil
    }
}
