
/// A study the server announces as ready for this user.
public struct StudyAnnouncement: Codable, Sendable, Equatable {
    public var study: String
    public var status: Int
    public var statusName: String
    /// The versions this user may fetch now.
    public var allowed: [String]
    public var reason: String
}
