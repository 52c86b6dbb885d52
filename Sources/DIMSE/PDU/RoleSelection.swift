
/// SCP/SCU role selection for one SOP class (PS3.7 D.3.3.4), as C-GET needs it.
public struct RoleSelection: Equatable, Sendable {
    public var sopClassUID: String
    public var scu: Bool
    public var scp: Bool

    public init(sopClassUID: String, scu: Bool, scp: Bool) {
        self.sopClassUID = sopClassUID
        self.scu = scu
        self.scp = scp
    }
}
