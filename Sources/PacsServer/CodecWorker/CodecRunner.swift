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
        let (reply, _) = try perform(.compare, [stored, received], timeout: Self.onDemandTimeout)
        guard case let .compared(difference) = reply else { throw unexpected(reply) }
        return difference
    }

    /// A file's dataset with native pixel data, encoded in `syntax`.
    func decompressed(_ file: [UInt8], to syntax: TransferSyntax) throws -> [UInt8] {
        let (reply, files) = try perform(.decompress(syntax: syntax.uid), [file], timeout: Self.onDemandTimeout)
        guard case .decompressed = reply, files.count == 1 else { throw unexpected(reply) }
        return files[0]
    }

    /// Frames of a file (from 1) as native cells.
    func frames(_ file: [UInt8], numbers: [Int]) throws -> [[UInt8]] {
        let (reply, frames) = try perform(.frames(numbers: numbers), [file], timeout: Self.onDemandTimeout)
        guard case .frames = reply, frames.count == numbers.count else { throw unexpected(reply) }
        return frames
    }

    /// The file's first frame as a screen shows it.
    func rendered(_ file: [UInt8], window: Renderer.Window?) throws -> RenderedImage {
        let (reply, pixels) = try perform(.render(window: window), [file], timeout: Self.onDemandTimeout)
        guard case let .rendered(width, height, components) = reply, pixels.count == 1, pixels[0].count == width * height * components else {
            throw unexpected(reply)
        }
        return RenderedImage(width: width, height: height, components: components, pixels: pixels[0])
    }

    /// The codec's own error, or a reply that does not answer the request.
    private func unexpected(_ reply: CodecReply) -> Error {
        if case let .failed(error) = reply { return error }
        return CodecWorkerError.unavailable("the worker answered \(reply) to another request")
    }
}
