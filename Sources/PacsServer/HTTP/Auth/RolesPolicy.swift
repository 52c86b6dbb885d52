import Hummingbird
import HummingbirdAuth

/// Authorizes users whose role is one of `roles`; hummingbird-auth's policy middleware enforces it on a group.
struct RolesPolicy: AuthorizationPolicy {
    let roles: Set<Role>

    func isAuthorized(identity: UsersPolicy.User, request: Request) async throws -> Bool {
        roles.contains(identity.role)
    }
}

extension RouterGroup where Context == StrataContext {
    /// Only users of these roles reach the routes added to the group after this; others get 403 with `refusal`.
    func only(_ roles: Role..., refusal: String) -> RouterGroup<StrataContext> {
        add(middleware: AuthorizationPolicyMiddleware(RolesPolicy(roles: Set(roles)), deniedError: HTTPError(.forbidden, message: refusal),
                                                      context: StrataContext.self))
    }
}
