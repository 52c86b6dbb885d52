import Codecs
import DICOM

/// Runs codec work (`CodecWork`): in worker processes (`CodecWorkerPool`, what the server and `pacs` use, so a
/// codec that crashes on one image costs only that work) or in the calling process (`InProcessCodecs`).
public protocol CodecRunner: Sendable {
    func perform(_ request: CodecRequest, _ files: [[UInt8]], timeout: Duration) throws -> (CodecReply, [[UInt8]])
    /// Ends the work in hand (it fails) and refuses new work: the server is stopping.
    func shutdown()
}

extension CodecRunner {
    /// On-demand work (a retrieval, a comparison) is given this long.
    static var onDemandTimeout: Duration { .seconds(60) }

    /// The versions of an original not yet made (see `Deriver`).
    func derive(_ original: [UInt8], existing: Set<String>, policy: CompressionPolicy) throws -> Deriver.Result {
        let (reply, files) = try perform(.derive(existing: existing.sorted(), policy: policy), [original],
                                         timeout: .milliseconds(Int64(policy.derivationTimeout * 1000)))
        guard case let .derived(described, missing) = reply, described.count == files.count else { throw unexpected(reply) }
        return Deriver.Result(products: zip(files, described).map { Deriver.Product(bytes: $0, file: $1) }, missing: missing)
    }

    /// Nil when `received` is the instance stored as `stored`, else how it differs (see `InstanceComparison`).
    func difference(stored: [UInt8], received: [UInt8]) throws -> String? {
        let (reply, _) = try onDemand(.compare, [stored, received])
        guard case let .compared(difference) = reply else { throw unexpected(reply) }
        return difference
    }

    /// A file's dataset with native pixel data, encoded in `syntax`.
    func decompressed(_ file: [UInt8], to syntax: TransferSyntax) throws -> [UInt8] {
        let (reply, files) = try onDemand(.decompress(syntax: syntax.uid), [file])
        guard case .decompressed = reply, files.count == 1 else { throw unexpected(reply) }
        return files[0]
    }

    /// Frames of a file (from 1) as native cells.
    func frames(_ file: [UInt8], numbers: [Int]) throws -> [[UInt8]] {
        let (reply, frames) = try onDemand(.frames(numbers: numbers), [file])
        guard case .frames = reply, frames.count == numbers.count else { throw unexpected(reply) }
        return frames
    }

    /// The file's first frame as a screen shows it.
    func rendered(_ file: [UInt8], window: Renderer.Window?) throws -> RenderedImage {
        let (reply, pixels) = try onDemand(.render(window: window), [file])
        guard case let .rendered(width, height, components) = reply, pixels.count == 1, pixels[0].count == width * height * components else {
            throw unexpected(reply)
        }
        return RenderedImage(width: width, height: height, components: components, pixels: pixels[0])
    }

    /// On-demand work, in a worker when a codec library would read the pixels. Native pixels are read by our own
    /// bounds-checked code, here: sending a 2000x2000 image to a worker and its rendering back costs more than
    /// rendering it.
    private func onDemand(_ request: CodecRequest, _ files: [[UInt8]]) throws -> (CodecReply, [[UInt8]]) {
        if files.allSatisfy(Self.holdsNativePixels) { return CodecWork.perform(request, files) }
        return try perform(request, files, timeout: Self.onDemandTimeout)
    }

    private static func holdsNativePixels(_ file: [UInt8]) -> Bool {
        (try? DicomFile.read(file, skippingPixelData: true))?.transferSyntax.encapsulated == false
    }

    /// The codec's own error, or a reply that does not answer the request.
    private func unexpected(_ reply: CodecReply) -> Error {
        if case let .failed(error) = reply { return error }
        return CodecWorkerError.unavailable("the worker answered \(reply) to another request")
    }
}
