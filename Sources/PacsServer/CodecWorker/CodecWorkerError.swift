/// Why a codec worker gave no answer: it died on the work (a codec crashed), ran past its time, or could not be
/// started or talked to. The work is lost, never the server.
public enum CodecWorkerError: Error, Sendable, CustomStringConvertible {
    /// The worker process ended while working: killed by a signal, or exited.
    case crashed(String)
    case timedOut(seconds: Double)
    case unavailable(String)

    public var description: String {
        switch self {
        case let .crashed(how): return "the codec worker crashed on this image (\(how))"
        case let .timedOut(seconds): return "the codec worker took longer than \(Int(seconds)) s on this image and was stopped"
        case let .unavailable(why): return "no codec worker: \(why)"
        }
    }
}
