import Foundation

/// A token bucket for the client's downloads (`--rate 2mbit`): reading the body only as fast as the bucket
/// fills keeps the socket's receive window closed, so the server really sends at that rate.
public actor RateLimiter {
    private let bitsPerSecond: Double
    private var tokens: Double
    private var last: Date

    /// Nil rate: unlimited.
    public init?(bitsPerSecond: Double?) {
        guard let bitsPerSecond, bitsPerSecond > 0 else { return nil }
        self.bitsPerSecond = bitsPerSecond
        // A bucket of a tenth of a second: bursts stay short.
        tokens = bitsPerSecond / 10
        last = Date()
    }

    /// Waits until `bytes` may pass.
    public func consume(_ bytes: Int) async {
        let now = Date()
        tokens = min(bitsPerSecond / 10, tokens + now.timeIntervalSince(last) * bitsPerSecond)
        last = now
        tokens -= Double(bytes * 8)
        if tokens < 0 {
            try? await Task.sleep(for: .seconds(-tokens / bitsPerSecond))
        }
    }

    /// Parses `2mbit`, `500kbit`, `1gbit` or bits per second.
    public static func bitsPerSecond(_ text: String) -> Double? {
        let units: [(String, Double)] = [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1)]
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            return Double(trimmed.dropLast(suffix.count)).flatMap { $0 > 0 ? $0 * factor : nil }
        }
        return Double(trimmed).flatMap { $0 > 0 ? $0 : nil }
    }
}
