import Foundation
import Hummingbird
import NIOCore

/// multipart/related bodies (RFC 2387) as DICOMweb uses them.
enum Multipart {
    static func boundary() -> String { "strata-\(UUID().uuidString)" }

    /// The header of one part, preceded by its delimiter.
    static func partHeader(boundary: String, contentType: String, extra: [String] = []) -> ByteBuffer {
        ByteBuffer(string: "--\(boundary)\r\nContent-Type: \(contentType)\r\n" + extra.map { "\($0)\r\n" }.joined() + "\r\n")
    }

    static func closing(boundary: String) -> ByteBuffer {
        ByteBuffer(string: "--\(boundary)--\r\n")
    }

    /// A whole multipart/related response whose parts are all of one media type.
    static func response(_ parts: [[UInt8]], type: String) -> Response {
        let boundary = boundary()
        var body = ByteBuffer()
        for part in parts {
            body.writeImmutableBuffer(partHeader(boundary: boundary, contentType: type))
            body.writeBytes(part)
            body.writeString("\r\n")
        }
        body.writeImmutableBuffer(closing(boundary: boundary))
        var headers = HTTPFields()
        headers[.contentType] = "multipart/related; type=\"\(type)\"; boundary=\(boundary)"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: body))
    }

    /// The parameters of a media type: `multipart/related; type="application/dicom"; boundary=x`.
    static func parameters(_ header: String) -> (type: String, parameters: [String: String]) {
        // Asked of every request's Accept or Content-Type: plain Swift, none of Foundation's character sets.
        func trimmed(_ text: Substring, dropping drop: (Character) -> Bool = { $0 == " " || $0 == "\t" }) -> Substring {
            guard let first = text.firstIndex(where: { !drop($0) }), let last = text.lastIndex(where: { !drop($0) }) else { return "" }
            return text[first...last]
        }
        let parts = header.split(separator: ";").map { trimmed($0) }
        var parameters: [String: String] = [:]
        for part in parts.dropFirst() {
            guard let equals = part.firstIndex(of: "=") else { continue }
            parameters[trimmed(part[..<equals]).lowercased()] = String(trimmed(trimmed(part[part.index(after: equals)...]), dropping: { $0 == "\"" }))
        }
        return ((parts.first ?? "").lowercased(), parameters)
    }
}
