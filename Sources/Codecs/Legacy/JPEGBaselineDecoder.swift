import CJPEGShim

/// 8-bit DCT-based JPEG (transfer syntax 1.2.840.10008.1.2.4.50, and the 8-bit streams of .51 and
/// progressive ones) through libjpeg-turbo. The C shim `strata_jpeg_decode` keeps libjpeg's fatal
/// errors from ending the process and treats its warnings about corrupt data as errors.
public enum JPEGBaselineDecoder {
    /// Decodes one frame to interleaved 8-bit samples, exactly `description.bytesPerFrame` bytes, and the
    /// photometric interpretation they are in: YBR_FULL and YBR_FULL_422 become "RGB"; RGB stays "RGB"
    /// (converted from YCbCr only when a JFIF or Adobe marker says the stream holds YCbCr); one component is
    /// "MONOCHROME2", or the dataset's MONOCHROME1 / PALETTE COLOR unchanged.
    public static func decode(_ frame: [UInt8], description: FrameDescription) throws(CodecError) -> (pixels: [UInt8], photometric: String) {
        guard description.bitsAllocated == 8 else {
            throw .unsupported("JPEG with \(description.bitsAllocated)-bit cells (libjpeg here decodes 8-bit samples only)")
        }
        var photometric = Substring(description.photometric)
        while let last = photometric.last, last == " " || last == "\0" { photometric.removeLast() }
        while photometric.first == " " { photometric.removeFirst() }
        let colour: strata_jpeg_colour
        let result: String
        switch (description.samplesPerPixel, photometric) {
        case (1, "MONOCHROME1"), (1, "PALETTE COLOR"):
            (colour, result) = (STRATA_JPEG_GRAY, String(photometric))
        case (1, _):
            (colour, result) = (STRATA_JPEG_GRAY, "MONOCHROME2")
        case (3, "YBR_FULL"), (3, "YBR_FULL_422"):
            (colour, result) = (STRATA_JPEG_YCBCR, "RGB")
        case (3, "RGB"):
            (colour, result) = (STRATA_JPEG_RGB, "RGB")
        default:
            throw .unsupported("JPEG of \(description.samplesPerPixel) samples per pixel in \(photometric)")
        }
        guard !frame.isEmpty else { throw .corrupt("empty JPEG frame") }
        // A coded 8x8 block takes at least 2 bits, so no real stream expands more than about 1000-fold;
        // checked before the image is allocated.
        guard description.bytesPerFrame / 2048 <= frame.count else {
            throw .corrupt("\(frame.count) bytes of JPEG data cannot hold a \(description.columns)x\(description.rows)x\(description.samplesPerPixel) image")
        }

        var output = [UInt8](repeating: 0, count: description.bytesPerFrame)
        var info = strata_jpeg_info()
        let status = frame.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { target in
                strata_jpeg_decode(input.baseAddress, input.count, Int32(description.columns), Int32(description.rows),
                                   Int32(description.samplesPerPixel), colour, target.baseAddress, target.count, &info)
            }
        }
        let message = withUnsafeBytes(of: info.message) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        switch status {
        case STRATA_JPEG_OK:
            return (output, result)
        case STRATA_JPEG_MISMATCH:
            let detail = message.isEmpty ? "" : " (\(message))"
            throw .mismatch("JPEG frame is \(info.width)x\(info.height)x\(info.components), the dataset says \(description.columns)x\(description.rows)x\(description.samplesPerPixel)\(detail)")
        case STRATA_JPEG_UNSUPPORTED:
            throw .unsupported("JPEG: \(message)")
        default:
            throw .corrupt("JPEG: \(message)")
        }
    }
}
