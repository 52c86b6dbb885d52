/// What an element holds.
public enum Value: Equatable, Sendable {
    /// The encoded value, in little-endian byte order.
    case bytes([UInt8])
    /// The items of a sequence (SQ, or UN of undefined length, whose items are Implicit VR Little Endian).
    case items([Item])
    /// Encapsulated pixel data: the basic offset table and the fragments (PS3.5 A.4).
    case fragments(Fragments)
}
