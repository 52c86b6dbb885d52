import Foundation

/// New UIDs for objects Strata creates, of the `2.25.<UUID as a decimal integer>` form (PS3.5 B.2),
/// unique without a registered root.
public enum UID {
    public static func make() -> String {
        let uuid = UUID().uuid
        var value: UInt128 = 0
        withUnsafeBytes(of: uuid) { bytes in
            for byte in bytes { value = value << 8 | UInt128(byte) }
        }
        return "2.25.\(value)"
    }
}
