import Foundation

/// Link rates: `2mbit`, `500kbit`, `1gbit`, `64000` (bits per second).
public enum LinkRate {
    public static func bitsPerSecond(_ text: String) -> Double? {
        let units: [(String, Double)] = [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1)]
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            guard let value = Double(trimmed.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), value > 0 else { return nil }
            return value * factor
        }
        return Double(trimmed).flatMap { $0 > 0 ? $0 : nil }
    }
}
