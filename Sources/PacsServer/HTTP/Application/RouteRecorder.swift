import HTTPTypes
import Hummingbird

/// The router as the controllers see it: every route added (through any group) is recorded before it reaches the
/// router, so that the routes the server answers can be listed from the router itself (the access-table test does).
final class RouteRecorder: RouterMethods, @unchecked Sendable {
    typealias Context = StrataContext

    struct Route: Hashable, Sendable {
        var method: HTTPRequest.Method
        var path: String
    }

    let router: Router<StrataContext>
    /// Written while the routes are added, before the server starts; read after.
    private(set) var routes: [Route] = []

    init(_ router: Router<StrataContext>) {
        self.router = router
    }

    @discardableResult
    func on<Responder: HTTPResponder>(_ path: RouterPath, method: HTTPRequest.Method, responder: Responder) -> Self
    where Responder.Context == StrataContext {
        routes.append(Route(method: method, path: "\(path)"))
        router.on(path, method: method, responder: responder)
        return self
    }

    @discardableResult
    func add(middleware: any MiddlewareProtocol<Request, Response, StrataContext>) -> Self {
        router.add(middleware: middleware)
        return self
    }
}
