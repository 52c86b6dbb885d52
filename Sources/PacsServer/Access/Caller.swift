/// Who is asking, as the gate sees it: an HTTP user or a remote AE, with the role the policies give it.
public struct Caller: Sendable, Equatable {
    public var name: String
    public var role: Role

    public init(name: String, role: Role) {
        self.name = name
        self.role = role
    }
}
