import Foundation
import Hummingbird

/// Every route but `/health` and the viewer's files needs a user: HTTP Basic (checked against users.yaml's hashes) or a bearer
/// token from `POST /auth/token`. Without credentials, or with wrong ones, the answer is 401.
struct AuthMiddleware: RouterMiddleware {
    typealias Context = StrataContext

    let policies: PolicyStore
    let tokens: TokenStore
    let verified = VerifiedCredentials()

    func handle(_ request: Request, context: StrataContext, next: (Request, StrataContext) async throws -> Response) async throws -> Response {
        // /health and the viewer's static files (no patient data; the page logs in itself) are open.
        if request.uri.path == "/health" || request.uri.path == "/viewer" || request.uri.path.hasPrefix("/viewer/") {
            return try await next(request, context)
        }
        guard let header = request.headers[.authorization] else { throw Self.unauthorized("credentials required") }
        let users = policies.current.users
        if header.hasPrefix("Basic ") {
            guard let decoded = Data(base64Encoded: String(header.dropFirst(6))).map({ String(decoding: $0, as: UTF8.self) }),
                  let colon = decoded.firstIndex(of: ":"),
                  let user = users.user(named: String(decoded[..<colon])),
                  verified.check(user, password: String(decoded[decoded.index(after: colon)...])) else {
                throw Self.unauthorized("wrong user name or password")
            }
            context.identity.user = user
        } else if header.hasPrefix("Bearer ") {
            guard let name = tokens.user(for: String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)),
                  let user = users.user(named: name) else {
                throw Self.unauthorized("the token is unknown or expired: get a new one from POST /auth/token")
            }
            context.identity.user = user
        } else {
            throw Self.unauthorized("use HTTP Basic or a bearer token")
        }
        return try await next(request, context)
    }

    static func unauthorized(_ message: String) -> HTTPError {
        HTTPError(.unauthorized, headers: [.wwwAuthenticate: "Basic realm=\"Strata\""], message: message)
    }
}
