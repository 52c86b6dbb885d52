/// Converts between a native frame (little-endian cells of BitsAllocated bits, interleaved samples) and
/// integer sample values, the form codecs and fidelity metrics work in. A sample is what the header says it
/// is, as pydicom reads it: the low BitsStored bits of its cell, two's complement when Pixel Representation
/// is 1; whatever else a cell holds (overlay bits, a codestream's own idea of the sign) is not the sample.
public enum NativeSamples {
    /// The sample values of a frame, by the description's BitsStored and signedness.
    public static func read(_ bytes: [UInt8], _ description: FrameDescription) -> [Int32] {
        let count = min(description.samplesPerFrame, bytes.count / description.bytesPerSample)
        let bits = description.bitsStored
        let mask = UInt32.max >> (32 - bits)
        let signBit = UInt32(1) << (bits - 1)
        var values = [Int32](repeating: 0, count: count)
        bytes.withUnsafeBufferPointer { source in
            values.withUnsafeMutableBufferPointer { target in
                func sample(_ cell: UInt32) -> Int32 {
                    let stored = cell & mask
                    return description.signed && stored & signBit != 0 ? Int32(bitPattern: stored | ~mask) : Int32(bitPattern: stored)
                }
                if description.bitsAllocated == 8 {
                    for i in 0..<count { target[i] = sample(UInt32(source[i])) }
                } else {
                    for i in 0..<count { target[i] = sample(UInt32(source[2 * i]) | UInt32(source[2 * i + 1]) << 8) }
                }
            }
        }
        return values
    }

    /// Native cells holding `values` (each in the range of the description's samples), signed ones
    /// sign-extended over the whole cell.
    public static func write(_ values: [Int32], _ description: FrameDescription) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: values.count * description.bytesPerSample)
        values.withUnsafeBufferPointer { source in
            bytes.withUnsafeMutableBufferPointer { target in
                if description.bitsAllocated == 8 {
                    for i in 0..<source.count { target[i] = UInt8(truncatingIfNeeded: source[i]) }
                } else {
                    for i in 0..<source.count {
                        let cell = UInt16(truncatingIfNeeded: source[i])
                        target[2 * i] = UInt8(cell & 0xFF)
                        target[2 * i + 1] = UInt8(cell >> 8)
                    }
                }
            }
        }
        return bytes
    }

    /// The frame with every cell holding exactly its sample: what `read` sees, written back.
    public static func normalized(_ bytes: [UInt8], _ description: FrameDescription) -> [UInt8] {
        guard description.bitsStored < description.bitsAllocated || description.signed else { return bytes }
        return write(read(bytes, description), description)
    }

    /// Converts planar (colour-by-plane) samples to interleaved.
    public static func interleave(_ planar: [UInt8], planes: Int, bytesPerSample: Int) -> [UInt8] {
        guard planes > 1 else { return planar }
        let pixels = planar.count / (planes * bytesPerSample)
        var out = [UInt8](repeating: 0, count: planar.count)
        for plane in 0..<planes {
            for pixel in 0..<pixels {
                for byte in 0..<bytesPerSample {
                    out[(pixel * planes + plane) * bytesPerSample + byte] = planar[(plane * pixels + pixel) * bytesPerSample + byte]
                }
            }
        }
        return out
    }
}
