import Codecs
import DICOM

/// The codec work itself: what a worker process does for each request (and what `InProcessCodecs` does in the
/// caller's process). Every call into a C codec on received pixels is made here and nowhere else in the server.
enum CodecWork {
    static func perform(_ request: CodecRequest, _ files: [[UInt8]]) -> (CodecReply, [[UInt8]]) {
        do throws(CodecError) {
            guard let first = files.first else { throw .corrupt("no file sent") }
            switch request {
            case let .derive(existing, policy):
                let result = Deriver(policy: policy).derive(originalBytes: first, existing: Set(existing))
                return (.derived(files: result.products.map(\.file), missing: result.missing), result.products.map(\.bytes))
            case .compare:
                guard files.count == 2 else { throw .corrupt("compare needs two files") }
                return (.compared(difference: try InstanceComparison.difference(stored: first, received: files[1])), [])
            case let .decompress(uid):
                guard let syntax = TransferSyntax(uid: uid), !syntax.encapsulated else { throw .unsupported("decompress to \(uid)") }
                let file = try read(first)
                let native = try PixelFrames.decompressed(file.dataSet, syntax: file.transferSyntax)
                do {
                    return (.decompressed, [try native.encoded(syntax: syntax)])
                } catch {
                    throw .unsupported("the decoded dataset cannot be encoded: \(error)")
                }
            case let .frames(numbers):
                let file = try read(first)
                let frames = try PixelFrames(file.dataSet, syntax: file.transferSyntax).frames
                guard numbers.allSatisfy({ (1...frames.count).contains($0) }) else { throw .corrupt("no such frame among \(frames.count)") }
                return (.frames, numbers.map { frames[$0 - 1] })
            case let .render(window):
                let file = try read(first)
                let image = try PixelFrames(file.dataSet, syntax: file.transferSyntax).inDisplayColours(file.dataSet)
                let description = image.description
                var values = NativeSamples.read(image.frames[0], description)
                // Colour is shown 8 bits a sample.
                if description.samplesPerPixel == 3, description.bitsStored > 8 {
                    let shift = Int32(description.bitsStored - 8)
                    values = values.map { $0 >> shift }
                }
                let rendered = Renderer(file.dataSet, window: window).render(values, width: description.columns, height: description.rows,
                                                                            components: description.samplesPerPixel)
                return (.rendered(width: rendered.width, height: rendered.height, components: rendered.components), [rendered.pixels])
            }
        } catch {
            return (.failed(error), [])
        }
    }

    static func read(_ bytes: [UInt8]) throws(CodecError) -> DicomFile {
        do {
            return try DicomFile.read(bytes)
        } catch {
            throw .corrupt("not a readable DICOM file: \(error)")
        }
    }
}
