import Foundation

/// Quantities written the way admins write them: `500GB`, `200MB/s`, `7d`, `90m`.
public enum Quantity {
    /// Bytes from `123`, `10KB`, `500GB`, `2TB` (powers of 1024).
    public static func bytes(_ text: String) -> Int64? {
        let units: [(String, Int64)] = [("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10), ("B", 1)]
        let trimmed = text.trimmingCharacters(in: .whitespaces).uppercased()
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            guard let value = Double(trimmed.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), value >= 0 else { return nil }
            return Int64(value * Double(factor))
        }
        return Int64(trimmed)
    }

    /// Seconds from `30s`, `90m`, `12h`, `7d`, `2w`.
    public static func seconds(_ text: String) -> TimeInterval? {
        let units: [(String, Double)] = [("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)]
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            guard let value = Double(trimmed.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)), value >= 0 else { return nil }
            return value * factor
        }
        return nil
    }
}
