import AsyncHTTPClient
import NIOHTTP1

/// Why a request to the server failed, with the server's own reason when it gave one.
public enum ClientError: Error, CustomStringConvertible, Equatable {
    case http(status: Int, message: String)
    case protocolError(String)

    public var description: String {
        switch self {
        case let .http(status, message): return "the server answered \(status): \(message)"
        case let .protocolError(message): return message
        }
    }

    public var status: Int? {
        if case let .http(status, _) = self { return status }
        return nil
    }
}
