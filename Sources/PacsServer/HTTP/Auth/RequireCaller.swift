import Hummingbird

/// Routes behind it need an authenticated user: without one the answer is 401, saying why and how to log in.
struct RequireCaller: RouterMiddleware {
    typealias Context = StrataContext

    func handle(_ request: Request, context: StrataContext, next: (Request, StrataContext) async throws -> Response) async throws -> Response {
        guard context.identity != nil else {
            throw HTTPError(.unauthorized, headers: [.wwwAuthenticate: "Basic realm=\"Strata\""],
                            message: context.refusedCredentials ?? "credentials required")
        }
        return try await next(request, context)
    }
}
