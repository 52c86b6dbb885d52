
/// A query over the index, as C-FIND and QIDO-RS ask it. Empty fields match everything.
public struct IndexQuery: Sendable, Equatable {
    public var patientID: String?
    /// With `*` and `?` wildcards, matched case-insensitively.
    public var patientName: String?
    /// `YYYYMMDD`, `YYYYMMDD-YYYYMMDD`, `YYYYMMDD-` or `-YYYYMMDD`.
    public var studyDate: String?
    public var modality: String?
    public var accessionNumber: String?
    public var studyInstanceUIDs: [String] = []
    public var seriesInstanceUIDs: [String] = []
    public var sopInstanceUIDs: [String] = []
    public var limit: Int?
    public var offset: Int = 0

    public init() {}
}
