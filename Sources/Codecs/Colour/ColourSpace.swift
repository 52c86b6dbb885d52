/// The colour transforms of native colour data (PS3.3 C.7.6.3.1.2): YBR_FULL to RGB (ITU-R BT.601, full
/// range, as pydicom and viewers convert it), and the expansion of horizontally subsampled YBR_FULL_422.
public enum ColourSpace {
    /// Interleaved YBR_FULL samples of `bits` bits as RGB, rounded and clipped to the samples' range.
    public static func rgb(fromYBR values: [Int32], bits: Int) -> [Int32] {
        let maximum = Double((1 << bits) - 1)
        let half = Double(1 << (bits - 1))
        var out = [Int32](repeating: 0, count: values.count)
        func clipped(_ value: Double) -> Int32 { Int32(min(max(value.rounded(), 0), maximum)) }
        for pixel in stride(from: 0, to: values.count - 2, by: 3) {
            let y = Double(values[pixel]), cb = Double(values[pixel + 1]) - half, cr = Double(values[pixel + 2]) - half
            out[pixel] = clipped(y + 1.402 * cr)
            out[pixel + 1] = clipped(y - 0.344136 * cb - 0.714136 * cr)
            out[pixel + 2] = clipped(y + 1.772 * cb)
        }
        return out
    }

    /// A native YBR_FULL_422 frame (Y1 Y2 Cb Cr for every two pixels of a row) as interleaved YBR_FULL, each
    /// pair of pixels sharing its chrominance; `bytesPerSample` bytes a sample.
    public static func expand422(_ packed: [UInt8], rows: Int, columns: Int, bytesPerSample: Int) throws(CodecError) -> [UInt8] {
        guard columns % 2 == 0 else { throw .corrupt("YBR_FULL_422 needs an even number of columns, not \(columns)") }
        let pairs = rows * columns / 2
        guard packed.count >= pairs * 4 * bytesPerSample else {
            throw .corrupt("YBR_FULL_422 frame of \(packed.count) bytes, \(pairs * 4 * bytesPerSample) needed")
        }
        var out = [UInt8](repeating: 0, count: pairs * 6 * bytesPerSample)
        let b = bytesPerSample
        for pair in 0..<pairs {
            let source = pair * 4 * b, target = pair * 6 * b
            for byte in 0..<b {
                let y1 = packed[source + byte], y2 = packed[source + b + byte]
                let cb = packed[source + 2 * b + byte], cr = packed[source + 3 * b + byte]
                out[target + byte] = y1; out[target + b + byte] = cb; out[target + 2 * b + byte] = cr
                out[target + 3 * b + byte] = y2; out[target + 4 * b + byte] = cb; out[target + 5 * b + byte] = cr
            }
        }
        return out
    }
}
