import Foundation
import Hummingbird
import NIOCore

/// The per-request context of the HTTP service: who is asking (set by authentication) and from where.
public struct StrataContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Filled in by `AuthMiddleware`; shared with the access log, which wraps it.
    public let identity = Identity()
    public let clientAddress: String

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        clientAddress = source.channel.remoteAddress?.ipAddress ?? "?"
    }

    /// STOW-RS bodies are streamed part by part; this bounds only bodies read whole.
    public var maxUploadSize: Int { 64 << 20 }

    /// JSON bodies use snake_case keys, as the API's answers do.
    public var requestDecoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }

    /// The authenticated user; every route but /health has one.
    public var user: UsersPolicy.User {
        get throws {
            guard let user = identity.user else { throw HTTPError(.unauthorized) }
            return user
        }
    }
}

/// Who a request was authenticated as.
public final class Identity: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: UsersPolicy.User?

    public var user: UsersPolicy.User? {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
