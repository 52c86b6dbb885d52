import Foundation
import Hummingbird
import HummingbirdAuth

/// The per-request context of the HTTP service: who is asking (set by `CredentialsAuthenticator`), from where, and
/// the one JSON convention for bodies in and out.
public struct StrataContext: AuthRequestContext, RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The authenticated user; every route but the open ones (`/health`, the viewer's files) requires one.
    public var identity: UsersPolicy.User?
    /// Why the credentials sent were refused, for the 401 answer (nil: none were sent, or they were good).
    var refusedCredentials: String?
    public let clientAddress: String

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        clientAddress = source.channel.remoteAddress?.ipAddress ?? "?"
    }

    /// STOW-RS bodies are streamed part by part; this bounds only bodies read whole.
    public var maxUploadSize: Int { 64 << 20 }

    public var requestDecoder: JSONDecoder { StrataJSON.decoder }
    public var responseEncoder: JSONEncoder { StrataJSON.encoder }

    /// The authenticated user.
    var user: UsersPolicy.User {
        get throws { try requireIdentity() }
    }

    /// The authenticated user as the access gate sees callers.
    var caller: Caller {
        get throws { try user.caller }
    }
}
