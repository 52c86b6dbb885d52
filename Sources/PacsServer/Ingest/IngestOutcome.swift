/// What happened to an instance that was accepted.
public enum IngestOutcome: Sendable, Equatable {
    /// Newly stored: durable and indexed.
    case stored(sopInstanceUID: String)
    /// Identical to an instance already stored; nothing changed.
    case duplicate(sopInstanceUID: String)
    /// Newly stored with identifiers the sender left out supplied (their keywords): a warning for the sender.
    case coerced(sopInstanceUID: String, supplied: [String])

    public var sopInstanceUID: String {
        switch self {
        case let .stored(uid), let .duplicate(uid), let .coerced(uid, _): return uid
        }
    }
}
