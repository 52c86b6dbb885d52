extension UsersPolicy.User {
    /// The user as the access gate sees callers.
    var caller: Caller { Caller(name: name, role: role) }
}
