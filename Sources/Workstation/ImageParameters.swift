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
