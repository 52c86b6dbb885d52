import Codecs
import Foundation

/// What rendering an instance needs from its header, read once from the server's WADO-RS metadata and kept
/// in the cache beside its frames.
public struct ImageParameters: Codable, Sendable, Equatable {
    public var rows: Int
    public var columns: Int
    public var samplesPerPixel: Int
    public var bitsAllocated: Int
    public var bitsStored: Int
    public var signed: Bool
    public var photometric: String
    public var slope: Double
    public var intercept: Double
    public var windowCenter: Double?
    public var windowWidth: Double?
    public var seriesInstanceUID: String?
    public var instanceNumber: Int?

    /// From one instance's DICOM JSON (PS3.18 F.2).
    init?(json: [String: Any]) {
        func values(_ tag: String) -> [Any]? { (json[tag] as? [String: Any])?["Value"] as? [Any] }
        func number(_ tag: String) -> Double? {
            guard let first = values(tag)?.first else { return nil }
            return (first as? Double) ?? (first as? Int).map(Double.init) ?? (first as? String).flatMap { Double($0.trimmingCharacters(in: .whitespaces)) }
        }
        guard let rows = number("00280010"), let columns = number("00280011") else { return nil }
        self.rows = Int(rows)
        self.columns = Int(columns)
        samplesPerPixel = Int(number("00280002") ?? 1)
        bitsAllocated = Int(number("00280100") ?? 16)
        bitsStored = Int(number("00280101") ?? Double(bitsAllocated))
        signed = number("00280103") == 1
        photometric = values("00280004")?.first as? String ?? "MONOCHROME2"
        slope = number("00281053") ?? 1
        intercept = number("00281052") ?? 0
        windowCenter = number("00281050")
        windowWidth = number("00281051")
        seriesInstanceUID = values("0020000E")?.first as? String
        instanceNumber = number("00200013").map { Int($0) }
    }

    var description: FrameDescription {
        FrameDescription(rows: rows, columns: columns, samplesPerPixel: samplesPerPixel, bitsAllocated: bitsAllocated, bitsStored: bitsStored,
                         signed: signed, photometric: photometric)
    }

    func renderer(window: Renderer.Window?) -> Renderer {
        let own = windowCenter.flatMap { center in windowWidth.flatMap { $0 > 0 ? Renderer.Window(center: center, width: $0) : nil } }
        return Renderer(slope: slope, intercept: intercept, window: window ?? own, invert: photometric == "MONOCHROME1")
    }
}

extension FrameCache {
    private func parametersURL(_ sop: String) -> URL { root.appendingPathComponent(sop).appendingPathComponent("image.json") }

    public func parameters(_ sop: String) -> ImageParameters? {
        (try? Data(contentsOf: parametersURL(sop))).flatMap { try? JSONDecoder().decode(ImageParameters.self, from: $0) }
    }

    func storeParameters(_ parameters: ImageParameters, sop: String) throws {
        try FileManager.default.createDirectory(at: parametersURL(sop).deletingLastPathComponent(), withIntermediateDirectories: true)
        try JSONEncoder().encode(parameters).write(to: parametersURL(sop), options: .atomic)
    }

    /// The cached instances of a series, in instance order.
    public func instances(inSeries series: String) -> [String] {
        let sops = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return sops.compactMap { sop in parameters(sop).flatMap { $0.seriesInstanceUID == series ? (sop, $0.instanceNumber ?? .max) : nil } }
            .sorted { ($0.1, $0.0) < ($1.1, $1.0) }.map(\.0)
    }

    /// The best frame held of an instance: the finest level of the best-quality version (V1 before V2 before V3).
    public func best(_ sop: String, frame: Int = 1) -> CachedFrame? {
        entries(sop).filter { $0.frame == frame }.min { a, b in
            (a.version, -(a.level ?? 99)) < (b.version, -(b.level ?? 99))
        }
    }
}

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
