import Hummingbird
import HummingbirdAuth

/// Authenticates a request by HTTP Basic (checked against users.yaml's hashes) or a bearer token from
/// `POST /auth/token`. It never answers itself: bad credentials are noted in the context, and `RequireCaller`
/// answers 401 with the reason on the routes that need a user.
struct CredentialsAuthenticator: AuthenticatorMiddleware {
    typealias Context = StrataContext

    let policies: PolicyStore
    let tokens: TokenStore
    let verified = VerifiedCredentials()

    func authenticate(request: Request, context: StrataContext) async throws -> UsersPolicy.User? {
        let users = policies.current.users
        if let basic = request.headers.basic {
            guard let user = users.user(named: basic.username), verified.check(user, password: basic.password) else { return nil }
            return user
        }
        if let bearer = request.headers.bearer, let name = tokens.user(for: bearer.token) { return users.user(named: name) }
        return nil
    }

    func handle(_ request: Request, context: StrataContext, next: (Request, StrataContext) async throws -> Response) async throws -> Response {
        var context = context
        if let user = try await authenticate(request: request, context: context) {
            context.identity = user
        } else if let header = request.headers[.authorization] {
            context.refusedCredentials = header.hasPrefix("Basic ") ? "wrong user name or password"
                : header.hasPrefix("Bearer ") ? "the token is unknown or expired: get a new one from POST /auth/token"
                : "use HTTP Basic or a bearer token"
        }
        return try await next(request, context)
    }
}
