import Codecs
import DICOM

/// Whether a received object is the instance already stored under its SOP Instance UID: the same attributes,
/// aside from those that only say how the pixels are encoded, and the same pixels once decoded, whatever transfer
/// syntax each came in. A sender that re-sends an instance in another syntax is sending the same instance.
enum InstanceComparison {
    /// Attributes a change of transfer syntax may change (PS3.5 8, 10; PS3.3 C.7.6.3), and the record of earlier
    /// changes to the object (its content is the rest).
    static let encodingAttributes: Set<Tag> = [
        .pixelData, .photometricInterpretation, .planarConfiguration, .extendedOffsetTable, .extendedOffsetTableLengths,
        .dataSetTrailingPadding, .originalAttributesSequence,
    ]
    /// A lossy-compressed instance decompressed (and re-sent) records its lossy history; decoders may round it
    /// differently, by this much a sample.
    static let lossyHistory: Set<Tag> = [.lossyImageCompression, .lossyImageCompressionRatio, .lossyImageCompressionMethod]
    static let lossyTolerance: Int32 = 2

    /// Nil when `received` is the instance `stored` holds, else a sentence saying how it differs.
    static func difference(stored: [UInt8], received: [UInt8]) throws(CodecError) -> String? {
        let a = try CodecWork.read(stored), b = try CodecWork.read(received)
        let lossy = a.transferSyntax.isLossy || b.transferSyntax.isLossy
        if let tag = firstDifference(a.dataSet, b.dataSet, ignoring: lossy ? encodingAttributes.union(lossyHistory) : encodingAttributes) {
            return "\(tag.keyword ?? "attribute") \(tag) differs"
        }
        guard a.dataSet.contains(.pixelData) || b.dataSet.contains(.pixelData) else { return nil }
        // Native pixels held the same (the reader gives them little endian) need no decoding, whatever their format.
        if !a.transferSyntax.encapsulated, !b.transferSyntax.encapsulated, a.dataSet[.pixelData]?.bytes == b.dataSet[.pixelData]?.bytes {
            return nil
        }
        let left = try PixelFrames(a.dataSet, syntax: a.transferSyntax).inDisplayColours(a.dataSet)
        let right = try PixelFrames(b.dataSet, syntax: b.transferSyntax).inDisplayColours(b.dataSet)
        guard left.description == right.description, left.frames.count == right.frames.count else {
            return "the pixels differ: \(shape(left.description)) against \(shape(right.description))"
        }
        let tolerance = lossy ? lossyTolerance : 0
        for (index, (x, y)) in zip(left.frames, right.frames).enumerated() where x != y {
            let worst = zip(NativeSamples.read(x, left.description), NativeSamples.read(y, right.description)).map { abs($0 - $1) }.max() ?? 0
            if worst > tolerance { return "the pixels of frame \(index + 1) differ (by up to \(worst))" }
        }
        return nil
    }

    /// The first attribute, outside those ignored and group lengths, that one dataset has and the other has not, or
    /// holds with another value.
    private static func firstDifference(_ a: DataSet, _ b: DataSet, ignoring: Set<Tag>) -> Tag? {
        func compared(_ element: Element) -> Bool {
            element.tag.element != 0x0000 && !ignoring.contains(element.tag)
        }
        let left = a.elements.filter(compared), right = b.elements.filter(compared)
        for (x, y) in zip(left, right) where x.tag != y.tag || !sameValue(x, y, a, b) { return min(x.tag, y.tag) }
        guard left.count != right.count else { return nil }
        return (left.count > right.count ? left[right.count] : right[left.count]).tag
    }

    /// Whether two elements hold the same value, however each was written: defined or undefined lengths, text padded
    /// with a space or a NUL.
    private static func sameValue(_ x: Element, _ y: Element, _ a: DataSet, _ b: DataSet) -> Bool {
        switch (x.value, y.value) {
        case let (.items(left), .items(right)):
            return left.count == right.count && zip(left, right).allSatisfy { firstDifference($0.dataSet, $1.dataSet, ignoring: []) == nil }
        case (.bytes, .bytes) where x.vr.isString && y.vr.isString:
            return a.strings(x.tag) == b.strings(y.tag)
        default:
            return x.value == y.value
        }
    }

    private static func shape(_ d: FrameDescription) -> String {
        "\(d.columns)x\(d.rows)x\(d.samplesPerPixel) \(d.bitsStored)-bit \(d.photometric)"
    }
}
