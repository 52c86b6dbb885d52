import Foundation

/// How originals move between the fast and archive tiers (`Policies/tiering.yaml`).
public struct TieringPolicy: Sendable, Equatable {
    /// What happens to the versions a rule names.
    public enum Variant: String, Sendable, CaseIterable {
        /// Copy to the archive after retention, then delete the fast copy.
        case move
        /// Copy to the archive at ingest; delete the fast copy after retention.
        case copyAtIngest = "copy_at_ingest"
        /// Keep every version on both tiers.
        case keepBoth = "keep_both"
    }

    /// When a rule's clock starts.
    public enum Since: String, Sendable, CaseIterable {
        case ingest, status
    }

    public struct Rule: Sendable, Equatable {
        public var versions: [String]
        public var afterDays: Double
        public var since: Since
        /// With `since: status`: the diagnosis status (by name) whose reaching starts the clock.
        public var status: String?
        /// Only these modalities; empty for all.
        public var modalities: [String]

        public init(versions: [String], afterDays: Double, since: Since, status: String?, modalities: [String]) {
            self.versions = versions
            self.afterDays = afterDays
            self.since = since
            self.status = status
            self.modalities = modalities
        }
    }

    /// Folder of the fast tier, relative to the data folder unless absolute.
    public var fastPath: String
    public var archivePath: String
    /// Fast tier capacity in bytes; nil for the size of the file system.
    public var capacity: Int64?
    public var highWatermark: Double
    public var lowWatermark: Double
    public var variant: Variant
    /// How often the mover runs, in seconds.
    public var runEvery: TimeInterval
    /// Bytes per second for moves; nil for unlimited.
    public var bandwidth: Int64?
    /// How long a recalled copy stays on the fast tier, in seconds.
    public var recallTTL: TimeInterval
    /// Whether reading an archived copy also recalls it to the fast tier in the background.
    public var recallOnRead: Bool
    /// How long before a scheduled examination the patient's priors are recalled.
    public var prefetchLead: TimeInterval
    /// The share of archived files the scrub re-hashes per day (0...1).
    public var scrubPerDay: Double
    public var rules: [Rule]

    public init(fastPath: String, archivePath: String, capacity: Int64?, highWatermark: Double, lowWatermark: Double,
                variant: Variant, runEvery: TimeInterval, bandwidth: Int64?, recallTTL: TimeInterval, recallOnRead: Bool = true,
                prefetchLead: TimeInterval = 12 * 3_600, scrubPerDay: Double = 0.02, rules: [Rule]) {
        self.fastPath = fastPath
        self.archivePath = archivePath
        self.capacity = capacity
        self.highWatermark = highWatermark
        self.lowWatermark = lowWatermark
        self.variant = variant
        self.runEvery = runEvery
        self.bandwidth = bandwidth
        self.recallTTL = recallTTL
        self.recallOnRead = recallOnRead
        self.prefetchLead = prefetchLead
        self.scrubPerDay = scrubPerDay
        self.rules = rules
    }

    /// The folder of a tier given the data folder.
    public static func resolve(_ path: String, dataFolder: URL) -> URL {
        path.hasPrefix("/") ? URL(fileURLWithPath: path, isDirectory: true) : dataFolder.appendingPathComponent(path, isDirectory: true)
    }
}
