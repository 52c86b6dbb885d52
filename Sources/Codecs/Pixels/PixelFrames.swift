import DICOM

/// The frames of an image as native pixel cells (little endian, interleaved), whatever syntax they came in,
/// each cell holding its sample as the header defines it (BitsStored, Pixel Representation), as pydicom reads
/// it. Colour stays in the colour space it was stored in, except what decoding itself converts: JPEG's YCbCr and
/// JPEG 2000's multiple-component transform come out as RGB, and native YBR_FULL_422 is expanded to YBR_FULL.
public struct PixelFrames: Sendable {
    public var description: FrameDescription
    public var frames: [[UInt8]]

    /// Decodes every frame of a dataset in the given transfer syntax.
    public init(_ dataSet: DataSet, syntax: TransferSyntax) throws(CodecError) {
        let header = try FrameDescription(validating: dataSet)
        guard let pixelData = dataSet[.pixelData] else { throw .unsupported("no Pixel Data") }
        var description = header
        var frames: [[UInt8]] = []
        if syntax.encapsulated {
            guard let fragments = pixelData.fragments else { throw .corrupt("compressed syntax without encapsulated pixel data") }
            for frame in try Self.split(fragments, frames: header.frames, dataSet: dataSet) {
                // Every frame is decoded by the header, not by what decoding an earlier frame made of it.
                let (pixels, photometric) = try Self.decode(frame, syntax: syntax, header)
                frames.append(pixels)
                if let photometric { description.photometric = photometric }
            }
        } else {
            let bytes = pixelData.bytes
            let size = header.storedBytesPerFrame
            guard bytes.count >= size * header.frames else {
                throw .corrupt("Pixel Data holds \(bytes.count) bytes, \(header.frames) frames of \(size) bytes need more")
            }
            for index in 0..<header.frames {
                let frame = Array(bytes[index * size..<(index + 1) * size])
                if header.chromaSubsampled {
                    frames.append(try ColourSpace.expand422(frame, rows: header.rows, columns: header.columns, bytesPerSample: header.bytesPerSample))
                } else {
                    frames.append(header.planar ? NativeSamples.interleave(frame, planes: header.samplesPerPixel, bytesPerSample: header.bytesPerSample) : frame)
                }
            }
            if header.chromaSubsampled { description.photometric = "YBR_FULL" }
        }
        description.planar = false
        self.init(description: description, frames: frames.map { NativeSamples.normalized($0, description) })
    }

    public init(description: FrameDescription, frames: [[UInt8]]) {
        self.description = description
        self.frames = frames
    }

    /// The image in the colours a viewer shows and a lossy codec codes: YBR_FULL as RGB, palette indices looked
    /// up in the dataset's palette (RGB of the palette's bits); monochrome and RGB as they are.
    public func inDisplayColours(_ dataSet: DataSet) throws(CodecError) -> PixelFrames {
        switch (description.samplesPerPixel, description.photometric) {
        case (1, "PALETTE COLOR"):
            let palette = try ColourPalette(dataSet, signedIndices: description.signed)
            var rgb = description
            (rgb.samplesPerPixel, rgb.photometric, rgb.signed) = (3, "RGB", false)
            (rgb.bitsAllocated, rgb.bitsStored) = (palette.bits, palette.bits)
            return PixelFrames(description: rgb, frames: frames.map { NativeSamples.write(palette.colours(of: NativeSamples.read($0, description)), rgb) })
        case (3, "YBR_FULL"):
            var rgb = description
            rgb.photometric = "RGB"
            return PixelFrames(description: rgb, frames: frames.map {
                NativeSamples.write(ColourSpace.rgb(fromYBR: NativeSamples.read($0, description), bits: description.bitsStored), rgb)
            })
        case (1, _), (3, "RGB"):
            return self
        default:
            throw .unsupported("colour in \(description.photometric)")
        }
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
            // The codestream's own precision and sign are not the header's (a vendor's may say unsigned where the
            // header says signed): its values are written as cells and read back by the header.
            // Colour coded with the multiple-component transform decodes back to RGB.
            let photometric = ["YBR_ICT", "YBR_RCT"].contains(description.photometric) ? "RGB" : nil
            return (NativeSamples.write(decoded.values, description), photometric)
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
