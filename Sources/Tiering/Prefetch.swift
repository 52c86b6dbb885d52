/// A scheduled examination whose patient's prior studies are recalled ahead of time.
public struct Prefetch: Sendable, Equatable {
    public var id: Int64
    public var patientID: String
    /// When the examination is scheduled (seconds since 1970).
    public var scheduledAt: Double
    public var requestedBy: String
    /// Nil until done.
    public var doneAt: Double?

    public init(id: Int64 = 0, patientID: String, scheduledAt: Double, requestedBy: String, doneAt: Double? = nil) {
        self.id = id
        self.patientID = patientID
        self.scheduledAt = scheduledAt
        self.requestedBy = requestedBy
        self.doneAt = doneAt
    }
}
