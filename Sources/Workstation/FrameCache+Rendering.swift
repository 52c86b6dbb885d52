import Codecs
import Foundation

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
