
/// What the server knows about a request when it picks a version for it.
public struct DeliveryContext: Sendable, Equatable {
    public var role: Role
    public var status: DiagnosisStatus
    public var place: String?
    public var linkRate: Double?
    public var memory: Int64?
    public var display: Int?

    public init(role: Role, status: DiagnosisStatus, place: String? = nil, linkRate: Double? = nil, memory: Int64? = nil, display: Int? = nil) {
        self.role = role
        self.status = status
        self.place = place
        self.linkRate = linkRate
        self.memory = memory
        self.display = display
    }
}
