import Foundation

/// How close a lossy version is to its original: PSNR with peak 2^BitsStored - 1, and the largest
/// absolute sample difference.
public struct Fidelity: Sendable, Equatable, Codable {
    /// Decibels; nil when the two are identical.
    public var psnr: Double?
    public var maxError: Int

    public init(psnr: Double?, maxError: Int) {
        self.psnr = psnr
        self.maxError = maxError
    }

    public static func measure(original: [Int32], derived: [Int32], bitsStored: Int) -> Fidelity {
        precondition(original.count == derived.count, "fidelity needs samples of equal count")
        var squares: Double = 0
        var maxError: Int32 = 0
        original.withUnsafeBufferPointer { a in
            derived.withUnsafeBufferPointer { b in
                var partial: Int64 = 0
                for i in 0..<a.count {
                    let difference = Int64(a[i]) - Int64(b[i])
                    partial &+= difference * difference
                    maxError = max(maxError, Int32(truncatingIfNeeded: abs(difference)))
                    if i & 0xFFFF == 0xFFFF {
                        squares += Double(partial)
                        partial = 0
                    }
                }
                squares += Double(partial)
            }
        }
        let mse = original.isEmpty ? 0 : squares / Double(original.count)
        let peak = Double((1 << bitsStored) - 1)
        return Fidelity(psnr: mse == 0 ? nil : 10 * log10(peak * peak / mse), maxError: Int(maxError))
    }
}
