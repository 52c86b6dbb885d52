import Foundation

/// Who we are in file meta information and association negotiation.
public enum Implementation {
    /// A UUID-derived UID (PS3.5 B.2), fixed for this implementation.
    public static let classUID = "2.25.199283047813049183094751220563217645141"
    public static let versionName = "STRATA_010"
}
