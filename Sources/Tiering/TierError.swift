import Glibc

/// Why the mover did not run or stopped.
public enum TierError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Another mover (the server's, or another `pacs tier` command) holds the lock.
    case busy
    /// The archive cannot take files; migration pauses and nothing is deleted.
    case archiveUnavailable(String)
    /// The server is stopping: no mover starts.
    case stopping

    public var description: String {
        switch self {
        case .busy: return "another mover is running on this data folder (the server's or another pacs tier command); try again when it is done"
        case let .archiveUnavailable(reason): return "migration paused: \(reason); nothing was deleted from the fast tier"
        case .stopping: return "the server is stopping; the tiering resumes when it starts again"
        }
    }
}
