/// One stored object (one representation of one version of an instance) and the tiers holding a copy.
/// The relative path is the same on every tier, so a copy is found on any tier by its path.
public struct TieredObject: Sendable, Equatable {
    public struct Key: Sendable, Hashable {
        /// The catalog's own id of the instance.
        public var instance: Int64
        public var version: String
        public var variant: String

        public init(instance: Int64, version: String, variant: String) {
            self.instance = instance
            self.version = version
            self.variant = variant
        }
    }

    public var key: Key
    public var sopInstanceUID: String
    public var studyInstanceUID: String
    public var patientID: String
    public var modality: String
    public var path: String
    public var size: Int64
    public var sha256: String
    /// The tiers holding an indexed copy, each with when a recalled copy expires (nil: it stays).
    public var copies: [String: Double?]
    /// Seconds since 1970.
    public var ingestedAt: Double
    /// When the study first reached each diagnosis status (by name), for `since: status` rules.
    public var statusReachedAt: [String: Double]

    public init(key: Key, sopInstanceUID: String, studyInstanceUID: String, patientID: String, modality: String, path: String,
                size: Int64, sha256: String, copies: [String: Double?], ingestedAt: Double, statusReachedAt: [String: Double]) {
        self.key = key
        self.sopInstanceUID = sopInstanceUID
        self.studyInstanceUID = studyInstanceUID
        self.patientID = patientID
        self.modality = modality
        self.path = path
        self.size = size
        self.sha256 = sha256
        self.copies = copies
        self.ingestedAt = ingestedAt
        self.statusReachedAt = statusReachedAt
    }

    public func has(_ tier: String) -> Bool { copies[tier] != nil }
}
