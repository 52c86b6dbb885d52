
/// Why an association ended before a message could be exchanged.
public enum AssociationError: Error, Equatable, Sendable, CustomStringConvertible {
    case closed
    case rejected(AssociateReject)
    case aborted(Abort)

    public var description: String {
        switch self {
        case .closed: return "the association closed"
        case let .rejected(reject): return "association rejected: \(reject)"
        case let .aborted(abort): return "association aborted (source \(abort.source), reason \(abort.reason))"
        }
    }
}
