/// Who is asking, as users and remote AEs are classed.
public enum Role: String, Sendable, CaseIterable {
    case reading, referring, teleradiology, admin
}
