import DICOM
import HTTPTypes
import Hummingbird
import NIOCore

/// gzip for JSON answers (listings, DICOM JSON metadata) when the client accepts it: on a slow link the
/// description of a 300-image series shrinks about tenfold. Images and frames are sent as they are.
struct ResponseCompression: RouterMiddleware {
    typealias Context = StrataContext

    static let compressedTypes = ["application/json", "application/dicom+json"]

    func handle(_ request: Request, context: StrataContext, next: (Request, StrataContext) async throws -> Response) async throws -> Response {
        let response = try await next(request, context)
        guard request.headers[.acceptEncoding]?.contains("gzip") == true, response.headers[.contentEncoding] == nil,
              let length = response.body.contentLength, (1_024...(32 << 20)).contains(length),
              let type = response.headers[.contentType], Self.compressedTypes.contains(where: { type.hasPrefix($0) }) else {
            return response
        }
        let collected = Collected()
        try await response.body.write(CollectingWriter(into: collected))
        let plain = collected.buffer.readableBytesView
        let zipped = try Deflate.gzip(Array(plain))
        var headers = response.headers
        headers[.contentEncoding] = "gzip"
        headers[.vary] = "Accept-Encoding"
        headers[.contentLength] = nil
        return Response(status: response.status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: zipped)))
    }

    final class Collected: @unchecked Sendable {
        var buffer = ByteBuffer()
    }

    struct CollectingWriter: ResponseBodyWriter {
        let into: Collected

        mutating func write(_ buffer: ByteBuffer) async throws {
            var buffer = buffer
            into.buffer.writeBuffer(&buffer)
        }

        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }
}
