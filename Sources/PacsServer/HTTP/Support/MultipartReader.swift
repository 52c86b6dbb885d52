import Foundation
import NIOCore

/// Splits a multipart body into parts as its bytes arrive, holding at most one part (and one read) in memory.
struct MultipartReader {
    struct Part {
        var headers: [String: String]
        var body: [UInt8]
    }

    enum Problem: Error, CustomStringConvertible {
        case malformed(String)
        case tooLarge(Int)

        var description: String {
            switch self {
            case let .malformed(what): return "malformed multipart body: \(what)"
            case let .tooLarge(limit): return "a part is larger than the limit of \(limit) bytes"
            }
        }
    }

    private let delimiter: [UInt8]
    private let maximumPartSize: Int
    private var buffer: [UInt8] = []
    /// Where the next delimiter search starts: bytes before it are known to hold none.
    private var scanned = 0
    private var started = false
    private(set) var finished = false

    init(boundary: String, maximumPartSize: Int) {
        delimiter = Array("\r\n--\(boundary)".utf8)
        self.maximumPartSize = maximumPartSize
        // The first delimiter may come without the leading CRLF.
        buffer = Array("\r\n".utf8)
    }

    /// Adds bytes; returns the parts they complete.
    mutating func feed(_ bytes: ByteBuffer) throws -> [Part] {
        buffer.append(contentsOf: bytes.readableBytesView)
        var parts: [Part] = []
        // Without a delimiter in the new bytes, the next search resumes where this one could not match.
        var resume = max(0, buffer.count - delimiter.count)
        while !finished, let index = find(delimiter, in: buffer, from: scanned) {
            guard index <= maximumPartSize + 1024 else { throw Problem.tooLarge(maximumPartSize) }
            let after = index + delimiter.count
            guard buffer.count >= after + 2 else {
                resume = index  // the delimiter's last two bytes are still to come
                break
            }
            let closing = buffer[after] == UInt8(ascii: "-") && buffer[after + 1] == UInt8(ascii: "-")
            if started { parts.append(try parse(upTo: index)) }
            started = true
            buffer.removeSubrange(..<(after + 2))
            scanned = 0
            resume = max(0, buffer.count - delimiter.count)
            if closing { finished = true }
        }
        scanned = resume
        if buffer.count > maximumPartSize + delimiter.count { throw Problem.tooLarge(maximumPartSize) }
        return parts
    }

    /// The part whose content is `buffer[..<end]`: after the delimiter line's CRLF, headers, a blank line, the
    /// body (a part without headers starts with the blank line). The body is copied out once.
    private func parse(upTo end: Int) throws -> Part {
        if end >= 2, buffer[0] == UInt8(ascii: "\r"), buffer[1] == UInt8(ascii: "\n") {
            return Part(headers: [:], body: Array(buffer[2..<end]))
        }
        guard let blank = find(Array("\r\n\r\n".utf8), in: buffer, before: end) else {
            throw Problem.malformed("a part has no blank line after its headers")
        }
        var headers: [String: String] = [:]
        for line in String(decoding: buffer[..<blank], as: UTF8.self).components(separatedBy: "\r\n") where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { throw Problem.malformed("header line without a colon") }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Part(headers: headers, body: Array(buffer[(blank + 4)..<end]))
    }

    /// The first occurrence of `needle` at or after `start` that ends before `end` (or the haystack's end): memchr
    /// for its first byte, memcmp for the rest.
    private func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int = 0, before end: Int? = nil) -> Int? {
        let end = min(end ?? haystack.count, haystack.count)
        guard start >= 0, end - start >= needle.count, let first = needle.first else { return nil }
        return haystack.withUnsafeBytes { bytes -> Int? in
            needle.withUnsafeBytes { pattern -> Int? in
                let base = bytes.baseAddress!
                var position = start
                let last = end - pattern.count
                while position <= last {
                    guard let hit = memchr(base + position, Int32(first), last - position + 1) else { return nil }
                    let index = UnsafeRawPointer(hit) - base
                    if memcmp(hit, pattern.baseAddress!, pattern.count) == 0 { return index }
                    position = index + 1
                }
                return nil
            }
        }
    }
}
