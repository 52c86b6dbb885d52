import Hummingbird
import HTTPTypes
import NIOCore

/// One byte range of a representation (RFC 9110 14.1), and the conditional headers around it, so a client
/// holding resolution level k fetches only the bytes that add level k+1 and revalidates what it cached.
struct ByteRange: Equatable {
    var lowerBound: Int
    /// Exclusive.
    var upperBound: Int

    /// The range a `Range` header asks of a body of `length` bytes: nil to send it whole (no header, several
    /// ranges, another unit, or an `If-Range` that no longer matches); throws 416 when it lies past the end.
    static func requested(_ headers: HTTPFields, length: Int, etag: String) throws -> ByteRange? {
        guard let header = headers[.range], header.hasPrefix("bytes=") else { return nil }
        if let ifRange = headers[.ifRange], ifRange != etag { return nil }
        let spec = header.dropFirst(6).trimmingCharacters(in: .whitespaces)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return nil }
        let first = spec[..<dash], last = spec[spec.index(after: dash)...]
        let range: ByteRange
        if first.isEmpty {
            guard let suffix = Int(last), suffix > 0 else { return nil }
            range = ByteRange(lowerBound: max(0, length - suffix), upperBound: length)
        } else {
            guard let start = Int(first), start >= 0 else { return nil }
            let end = last.isEmpty ? length - 1 : Int(last) ?? -1
            guard end >= start || last.isEmpty else { return nil }
            range = ByteRange(lowerBound: start, upperBound: min(end + 1, length))
        }
        guard range.lowerBound < length, range.lowerBound < range.upperBound else {
            throw HTTPError(.rangeNotSatisfiable, headers: [.contentRange: "bytes */\(length)"], message: "the representation has \(length) bytes")
        }
        return range
    }

    /// A 200 with the whole body, a 206 with the range asked, or a 304 when the client's copy is current.
    static func response(_ body: [UInt8], request: Request, etag: String, headers: HTTPFields) throws -> Response {
        var headers = headers
        headers[.eTag] = etag
        headers[.acceptRanges] = "bytes"
        if let match = request.headers[.ifNoneMatch], match.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == etag || $0 == "*" }) {
            return Response(status: .notModified, headers: headers)
        }
        guard let range = try requested(request.headers, length: body.count, etag: etag) else {
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        headers[.contentRange] = "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(body.count)"
        return Response(status: .partialContent, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body[range.lowerBound..<range.upperBound])))
    }
}
