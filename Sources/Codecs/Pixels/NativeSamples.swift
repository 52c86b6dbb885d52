/// Converts between a native frame (little-endian cells of BitsAllocated bits, interleaved samples) and
/// integer sample values, the form codecs and fidelity metrics work in.
public enum NativeSamples {
    /// The cell values, two's complement when the image is signed.
    public static func read(_ bytes: [UInt8], _ description: FrameDescription) -> [Int32] {
        let count = min(description.samplesPerFrame, bytes.count / description.bytesPerSample)
        var values = [Int32](repeating: 0, count: count)
        bytes.withUnsafeBufferPointer { source in
            values.withUnsafeMutableBufferPointer { target in
                if description.bitsAllocated == 8 {
                    for i in 0..<count { target[i] = description.signed ? Int32(Int8(bitPattern: source[i])) : Int32(source[i]) }
                } else {
                    for i in 0..<count {
                        let cell = UInt16(source[2 * i]) | UInt16(source[2 * i + 1]) << 8
                        target[i] = description.signed ? Int32(Int16(bitPattern: cell)) : Int32(cell)
                    }
                }
            }
        }
        return values
    }

    /// Native cells from values, clamped to what `bits` bits of the image's signedness can hold.
    public static func write(_ values: [Int32], _ description: FrameDescription, bits: Int? = nil) -> [UInt8] {
        let range = self.range(bits: bits ?? description.bitsAllocated, signed: description.signed)
        var bytes = [UInt8](repeating: 0, count: values.count * description.bytesPerSample)
        values.withUnsafeBufferPointer { source in
            bytes.withUnsafeMutableBufferPointer { target in
                if description.bitsAllocated == 8 {
                    for i in 0..<source.count { target[i] = UInt8(truncatingIfNeeded: min(max(source[i], range.lowerBound), range.upperBound)) }
                } else {
                    for i in 0..<source.count {
                        let cell = UInt16(truncatingIfNeeded: min(max(source[i], range.lowerBound), range.upperBound))
                        target[2 * i] = UInt8(cell & 0xFF)
                        target[2 * i + 1] = UInt8(cell >> 8)
                    }
                }
            }
        }
        return bytes
    }

    public static func range(bits: Int, signed: Bool) -> ClosedRange<Int32> {
        signed ? -(Int32(1) << (bits - 1))...((Int32(1) << (bits - 1)) - 1) : 0...((Int32(1) << bits) - 1)
    }

    /// The fewest bits (at most BitsAllocated) that hold every value: BitsStored when the cells are clean.
    public static func precision(_ values: [Int32], _ description: FrameDescription) -> Int {
        var low = Int32.max, high = Int32.min
        for value in values {
            low = min(low, value)
            high = max(high, value)
        }
        let stored = range(bits: description.bitsStored, signed: description.signed)
        return values.isEmpty || (stored.contains(low) && stored.contains(high)) ? description.bitsStored : description.bitsAllocated
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
