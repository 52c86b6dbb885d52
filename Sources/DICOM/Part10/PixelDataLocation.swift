/// Where a file's Pixel Data element and its value (or each fragment's value) start, in bytes from the
/// start of the file: what a server needs to send a frame without parsing the file again.
public struct PixelDataLocation: Sendable, Equatable {
    /// The element's tag; everything before it is the header (attributes without pixels).
    public var elementOffset: Int
    /// The value of native pixel data; for encapsulated data the basic offset table's value.
    public var valueOffset: Int
    /// The length of native pixel data's value (0 for encapsulated data).
    public var valueLength: Int
    /// For encapsulated data, each fragment's value and its length.
    public var fragmentOffsets: [Int]
    public var fragmentLengths: [Int]

    /// The same location in bytes that start `offset` bytes later (a dataset placed behind a header).
    public func shifted(by offset: Int) -> PixelDataLocation {
        var shifted = self
        shifted.elementOffset += offset
        shifted.valueOffset += offset
        shifted.fragmentOffsets = fragmentOffsets.map { $0 + offset }
        return shifted
    }
}
