import DICOM

/// The frames of an image as native pixel cells (little endian, interleaved), whatever syntax they came in.
public struct PixelFrames: Sendable {
    public var description: FrameDescription
    public var frames: [[UInt8]]

    /// Decodes every frame of a dataset in the given transfer syntax. After decoding, colour is RGB
    /// (JPEG's YCbCr is converted) and interleaved.
    public init(_ dataSet: DataSet, syntax: TransferSyntax) throws(CodecError) {
        guard var description = FrameDescription(dataSet) else {
            throw .unsupported("no image pixel module (Rows, Columns, BitsAllocated 8 or 16, 1 or 3 samples)")
        }
        guard let pixelData = dataSet[.pixelData] else { throw .unsupported("no Pixel Data") }
        if syntax.encapsulated {
            guard let fragments = pixelData.fragments else { throw .corrupt("compressed syntax without encapsulated pixel data") }
            let encoded = try Self.split(fragments, frames: description.frames, dataSet: dataSet)
            var frames: [[UInt8]] = []
            for frame in encoded {
                let (pixels, photometric) = try Self.decode(frame, syntax: syntax, description)
                frames.append(pixels)
                if let photometric { description.photometric = photometric }
            }
            description.planar = false
            self.init(description: description, frames: frames)
        } else {
            let bytes = pixelData.bytes
            let size = description.bytesPerFrame
            guard bytes.count >= size * description.frames else {
                throw .corrupt("Pixel Data holds \(bytes.count) bytes, \(description.frames) frames of \(size) bytes need more")
            }
            let frames = (0..<description.frames).map { index in
                let frame = Array(bytes[index * size..<(index + 1) * size])
                return description.planar ? NativeSamples.interleave(frame, planes: description.samplesPerPixel, bytesPerSample: description.bytesPerSample) : frame
            }
            description.planar = false
            self.init(description: description, frames: frames)
        }
    }

    public init(description: FrameDescription, frames: [[UInt8]]) {
        self.description = description
        self.frames = frames
    }

    /// Groups fragments into frames (PS3.5 A.4): one fragment per frame, all fragments for a single frame,
    /// or the extended / basic offset table.
    public static func split(_ fragments: Fragments, frames: Int, dataSet: DataSet) throws(CodecError) -> [[UInt8]] {
        let parts = fragments.fragments
        if parts.count == frames { return parts }
        if frames == 1 { return [Array(parts.joined())] }
        // Offsets of each frame's first fragment, from the start of the first fragment's item.
        var offsets: [Int] = []
        if let extended = dataSet[.extendedOffsetTable]?.bytes, extended.count == 8 * frames {
            offsets = (0..<frames).map { i in (0..<8).reduce(0) { $0 | Int(extended[8 * i + $1]) << (8 * $1) } }
        } else if fragments.offsetTable.count == 4 * frames {
            let table = fragments.offsetTable
            offsets = (0..<frames).map { i in (0..<4).reduce(0) { $0 | Int(table[4 * i + $1]) << (8 * $1) } }
        } else {
            throw .unsupported("\(parts.count) fragments for \(frames) frames without an offset table")
        }
        var starts: [Int] = []
        var position = 0
        for part in parts {
            starts.append(position)
            position += 8 + part.count
        }
        var result: [[UInt8]] = []
        for (index, offset) in offsets.enumerated() {
            let end = index + 1 < offsets.count ? offsets[index + 1] : position
            let members = parts.indices.filter { starts[$0] >= offset && starts[$0] < end }
            guard !members.isEmpty else { throw .corrupt("offset table entry \(offset) matches no fragment") }
            result.append(Array(members.map { parts[$0] }.joined()))
        }
        return result
    }

    /// Decodes one compressed frame; returns the photometric interpretation when decoding changed it.
    static func decode(_ frame: [UInt8], syntax: TransferSyntax, _ description: FrameDescription) throws(CodecError) -> ([UInt8], String?) {
        switch syntax.uid {
        case TransferSyntax.jpegLSLossless.uid, TransferSyntax.jpegLSNearLossless.uid:
            return (try JPEGLS.decode(frame, description), nil)
        case TransferSyntax.jpeg2000Lossless.uid, TransferSyntax.jpeg2000.uid:
            let decoded = try JPEG2000.decode(frame)
            guard decoded.width == description.columns, decoded.height == description.rows,
                  decoded.components == description.samplesPerPixel else {
                throw .mismatch("JPEG 2000 frame is \(decoded.width)x\(decoded.height)x\(decoded.components), the dataset says \(description.columns)x\(description.rows)x\(description.samplesPerPixel)")
            }
            // Colour coded with the multiple-component transform decodes back to RGB.
            let photometric = description.samplesPerPixel == 3 ? "RGB" : nil
            return (NativeSamples.write(decoded.values, description, bits: description.bitsStored), photometric)
        case TransferSyntax.rleLossless.uid:
            return (try RLEDecoder.decode(frame, description: description), nil)
        case TransferSyntax.jpegLossless.uid, TransferSyntax.jpegLosslessSV1.uid:
            return (try JPEGLosslessDecoder.decode(frame, description: description), nil)
        case TransferSyntax.jpegBaseline.uid:
            let (pixels, photometric) = try JPEGBaselineDecoder.decode(frame, description: description)
            return (pixels, photometric)
        default:
            throw .unsupported("no decoder for \(syntax)")
        }
    }
}

extension PixelFrames {
    /// The dataset with its pixel data decompressed to native form (little endian, colour interleaved),
    /// for a peer that cannot take the stored transfer syntax. Lossy-compression history stays recorded.
    public static func decompressed(_ dataSet: DataSet, syntax: TransferSyntax) throws(CodecError) -> DataSet {
        var out = dataSet
        guard syntax.encapsulated else { return out }
        let image = try PixelFrames(dataSet, syntax: syntax)
        for tag in [Tag.extendedOffsetTable, .extendedOffsetTableLengths] { out.remove(tag) }
        out.set(.photometricInterpretation, .CS, image.description.photometric)
        if image.description.samplesPerPixel > 1 { out.set(.planarConfiguration, uint16: 0) }
        var pixels = Array(image.frames.joined())
        if pixels.count % 2 == 1 { pixels.append(0) }
        out.set(Element(tag: .pixelData, vr: image.description.bitsAllocated > 8 ? .OW : .OB, bytes: pixels))
        return out
    }
}
