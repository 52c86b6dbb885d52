/// A study whose stored diagnosis status is none of the five: refused with this reason, never read as another status.
public struct UnreadableStatus: Error, Equatable, CustomStringConvertible {
    public var studyInstanceUID: String
    public var stored: Int

    public var description: String {
        "the diagnosis status of study \(studyInstanceUID) reads \(stored), which is none of 1 unread ... 5 report"
    }
}
