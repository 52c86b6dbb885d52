import Codecs

/// Renders what the cache holds of an instance as PNG: J2K at the level held (never waiting for more),
/// JPEG-LS or native V1 in full; Modality LUT, window (a preset, C,W, or the dataset's own) and MONOCHROME1.
public enum ImageRendering {
    public enum Problem: Error, CustomStringConvertible {
        case notHeld(String)
        case undecodable(String, String)

        public var description: String {
            switch self {
            case let .notHeld(sop): return "nothing of \(sop) is in the cache: pull it first"
            case let .undecodable(sop, why): return "\(sop): \(why)"
            }
        }
    }

    public static func png(_ sop: String, cache: FrameCache, window: Renderer.Window?, frame: Int = 1) throws -> (png: [UInt8], entry: CachedFrame) {
        guard let entry = cache.best(sop, frame: frame), let parameters = cache.parameters(sop) else { throw Problem.notHeld(sop) }
        let bytes = try cache.bytes(entry)
        let renderer = parameters.renderer(window: window)
        let image: RenderedImage
        do {
            switch entry.mediaType {
            case let type where type.hasPrefix("image/j2c"):
                let reduce = (entry.levels ?? 1) - 1 - (entry.level ?? 0)
                let decoded = try JPEG2000.decode(bytes + [0xFF, 0xD9], reduce: max(0, reduce))
                image = renderer.render(decoded.values, width: decoded.width, height: decoded.height, components: decoded.components)
            case let type where type.hasPrefix("image/jls"):
                let description = parameters.description
                let samples = NativeSamples.read(try JPEGLS.decode(bytes, description), description)
                image = renderer.render(samples, width: parameters.columns, height: parameters.rows, components: parameters.samplesPerPixel)
            default:
                let description = parameters.description
                image = renderer.render(NativeSamples.read(bytes, description), width: parameters.columns, height: parameters.rows,
                                        components: parameters.samplesPerPixel)
            }
        } catch {
            throw Problem.undecodable(sop, "\(error)")
        }
        return (image.png(), entry)
    }
}
