import AsyncHTTPClient
import NIOHTTP1

/// An HTTP response read whole.
public struct ClientResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public func header(_ name: String) -> String? { headers.first(name: name) }
}
