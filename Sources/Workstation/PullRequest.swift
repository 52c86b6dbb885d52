
/// What to pull and how much of it.
public struct PullRequest: Sendable {
    public var study: String?
    public var series: String?
    public var version: String?
    public var quality: Int?
    public var purpose: String?
    /// Up to this resolution level (0 is the smallest), or the smallest level covering this display size.
    public var level: Int?
    public var display: Int?
    /// Where the doctor is (reading_room, ward, icu, er, office, home, remote), for the delivery policy.
    public var place: String?

    public init(study: String? = nil, series: String? = nil, version: String? = nil, quality: Int? = nil, purpose: String? = nil,
                level: Int? = nil, display: Int? = nil, place: String? = nil) {
        self.study = study
        self.series = series
        self.version = version
        self.quality = quality
        self.purpose = purpose
        self.level = level
        self.display = display
        self.place = place
    }

    /// The selector as query parameters; empty to let the server's delivery policy choose.
    var selector: String {
        var items: [String] = []
        if let version { items.append("version=\(version)") }
        if let quality { items.append("quality=\(quality)") }
        if let purpose { items.append("purpose=\(purpose)") }
        if let display { items.append("display=\(display)") }
        if let place { items.append("place=\(place)") }
        return items.joined(separator: "&")
    }
}
