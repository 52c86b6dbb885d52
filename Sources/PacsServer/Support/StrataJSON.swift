import Foundation

/// The one JSON convention of every HTTP route and every `--json` output: snake_case keys, sorted. Times the index
/// keeps (`at`, `received_at`) are seconds since 1970, as stored; a `Date` is written in ISO 8601.
public enum StrataJSON {
    public static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    public static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }
}
