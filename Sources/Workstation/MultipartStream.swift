/// Splits a multipart/related body into parts as its bytes arrive, so each image of a series response is
/// kept the moment it is complete.
struct MultipartStream {
    struct Part {
        var headers: [String: String]
        var body: [UInt8]
    }

    private let delimiter: [UInt8]
    private var buffer: [UInt8] = []
    private var started = false

    init(boundary: String) {
        delimiter = Array("--\(boundary)".utf8)
    }

    /// The boundary of a `multipart/related; ...; boundary=x` content type.
    static func boundary(of contentType: String) -> String? {
        for parameter in contentType.split(separator: ";") {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if pair.count == 2, pair[0].lowercased() == "boundary" { return pair[1].trimmingCharacters(in: ["\""]) }
        }
        return nil
    }

    /// Adds bytes; returns the parts completed by them.
    mutating func feed(_ bytes: [UInt8]) -> [Part] {
        buffer += bytes
        var parts: [Part] = []
        if !started {
            guard let first = find(delimiter, from: 0) else { return [] }
            buffer.removeFirst(first + delimiter.count)
            started = true
        }
        // Each part: CRLF, headers, CRLF CRLF, body, CRLF, delimiter.
        while let headerEnd = find(Array("\r\n\r\n".utf8), from: 0),
              let next = find([13, 10] + delimiter, from: headerEnd + 4) {
            let headerText = String(decoding: buffer[..<headerEnd], as: UTF8.self)
            var headers: [String: String] = [:]
            for line in headerText.split(separator: "\r\n") {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            parts.append(Part(headers: headers, body: Array(buffer[(headerEnd + 4)..<next])))
            buffer.removeFirst(next + 2 + delimiter.count)
        }
        return parts
    }

    private func find(_ needle: [UInt8], from start: Int) -> Int? {
        guard buffer.count >= needle.count + start else { return nil }
        var index = start
        let last = buffer.count - needle.count
        while index <= last {
            if buffer[index] == needle[0], buffer[index..<index + needle.count].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}
