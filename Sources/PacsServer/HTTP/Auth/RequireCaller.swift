import Hummingbird

/// Every request but those to the open paths needs an authenticated user, a path that does not exist included (its
/// answer would tell a stranger what does): without one the answer is 401, saying why and how to log in.
struct RequireCaller: RouterMiddleware {
    typealias Context = StrataContext

    /// Paths answered without credentials; one ending in `/` opens its folder (the viewer's files, which hold no
    /// patient data and load before logging in).
    let openPaths: [String]

    func handle(_ request: Request, context: StrataContext, next: (Request, StrataContext) async throws -> Response) async throws -> Response {
        guard context.identity != nil || isOpen(request.uri.path) else {
            throw HTTPError(.unauthorized, headers: [.wwwAuthenticate: "Basic realm=\"Strata\""],
                            message: context.refusedCredentials ?? "credentials required")
        }
        return try await next(request, context)
    }

    func isOpen(_ path: String) -> Bool {
        openPaths.contains { $0.hasSuffix("/") ? path.hasPrefix($0) || path + "/" == $0 : path == $0 }
    }
}
