/// DICOM RLE Lossless (PS3.5 Annex G, transfer syntax 1.2.840.10008.1.2.5).
///
/// A frame is a 64-byte header (segment count, then 15 little-endian segment offsets from the start of
/// the header) followed by PackBits segments. Each segment holds one byte of every pixel of one sample,
/// in the order sample 1 most significant byte ... least significant byte, then sample 2, and so on.
public enum RLEDecoder {
    /// Decodes one frame to native pixel data: little-endian cells, colour interleaved, exactly
    /// `description.bytesPerFrame` bytes. Malformed input throws `.corrupt` saying what was wrong.
    public static func decode(_ frame: [UInt8], description: FrameDescription) throws(CodecError) -> [UInt8] {
        let bytesPerSample = description.bytesPerSample
        let samples = description.samplesPerPixel
        guard description.rows > 0, description.columns > 0, (1...4).contains(bytesPerSample), description.bitsAllocated % 8 == 0,
              samples >= 1 else {
            throw .unsupported("RLE of \(description.samplesPerPixel) samples of \(description.bitsAllocated) bits")
        }
        let expectedSegments = samples * bytesPerSample
        guard expectedSegments <= 15 else {
            throw .unsupported("RLE holds at most 15 segments; \(samples) samples of \(description.bitsAllocated) bits need \(expectedSegments)")
        }
        guard frame.count >= 64 else { throw .corrupt("RLE frame of \(frame.count) bytes is shorter than its 64-byte header") }

        func word(_ index: Int) -> Int {
            let at = 4 * index
            return Int(frame[at]) | Int(frame[at + 1]) << 8 | Int(frame[at + 2]) << 16 | Int(frame[at + 3]) << 24
        }
        let segmentCount = word(0)
        guard segmentCount <= 15 else { throw .corrupt("RLE header declares \(segmentCount) segments (at most 15)") }
        guard segmentCount == expectedSegments else {
            throw .corrupt("RLE header declares \(segmentCount) segments, \(samples) samples of \(description.bitsAllocated) bits need \(expectedSegments)")
        }
        var offsets = (1...segmentCount).map { word($0) }
        offsets.append(frame.count)
        let pixels = description.rows * description.columns
        for index in 0..<segmentCount {
            let start = offsets[index], end = offsets[index + 1]
            guard start >= 64, start <= end, end <= frame.count else {
                throw .corrupt("RLE segment \(index + 1) spans bytes \(start)..<\(end) of a \(frame.count)-byte frame")
            }
            // Two bytes expand to at most 128: checked before anything is allocated.
            guard (end - start) / 2 * 128 >= pixels else {
                throw .corrupt("RLE segment \(index + 1) of \(end - start) bytes cannot hold \(pixels) bytes")
            }
        }

        let stride = samples * bytesPerSample
        var output = [UInt8](repeating: 0, count: description.bytesPerFrame)
        for segment in 0..<segmentCount {
            let sample = segment / bytesPerSample
            let significance = segment % bytesPerSample  // 0: most significant byte
            let first = sample * bytesPerSample + (bytesPerSample - 1 - significance)
            try unpack(frame, from: offsets[segment], to: offsets[segment + 1], into: &output, first: first, stride: stride,
                       count: pixels, segment: segment + 1)
        }
        return output
    }

    /// Expands one PackBits segment into every `stride`-th byte of `output` from `first`, `count` bytes in all.
    /// Bytes after the last needed one (encoder padding) are ignored; running out of input is an error.
    private static func unpack(_ input: [UInt8], from start: Int, to end: Int, into output: inout [UInt8],
                               first: Int, stride: Int, count: Int, segment: Int) throws(CodecError) {
        var read = start
        var written = 0
        var target = first
        while written < count {
            guard read < end else {
                throw .corrupt("RLE segment \(segment) ends after \(written) of \(count) bytes")
            }
            let header = Int(Int8(bitPattern: input[read]))
            read += 1
            if header >= 0 {
                // Literal run of header + 1 bytes.
                let length = min(header + 1, count - written)
                guard end - read >= length else {
                    throw .corrupt("RLE segment \(segment): a literal run of \(header + 1) bytes passes the segment's end")
                }
                for index in read..<(read + length) {
                    output[target] = input[index]
                    target += stride
                }
                read += header + 1
                written += length
            } else if header != -128 {
                // Replicate run: the next byte 1 - header times.
                guard read < end else { throw .corrupt("RLE segment \(segment): a replicate run has no byte to repeat") }
                let value = input[read]
                read += 1
                let length = min(1 - header, count - written)
                for _ in 0..<length {
                    output[target] = value
                    target += stride
                }
                written += length
            }
        }
    }
}
