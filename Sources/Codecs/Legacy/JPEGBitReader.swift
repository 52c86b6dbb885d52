/// Reads the entropy-coded data of a JPEG scan bit by bit, most significant bit first (ITU-T T.81 F.2.2.5):
/// removes the zero stuffed after each 0xFF and stops at the first marker.
///
/// Past a marker or the end of the data the reader supplies zero bits so that a code can be looked up
/// with a full window, but consuming any of them is an error: the data ended early.
struct JPEGBitReader {
    private let data: [UInt8]
    /// The next byte to load.
    private(set) var position: Int
    /// The loaded bits are the low `count` bits of `buffer`; the lowest `padding` of them are made up.
    private var buffer: UInt64 = 0
    private var count = 0
    private var padding = 0
    /// `position` is at the 0xFF of a marker (or the data's end): nothing more is loaded.
    private var stopped = false

    init(_ data: [UInt8], at position: Int) {
        self.data = data
        self.position = position
    }

    /// The next 16 bits without consuming them.
    mutating func peek16() -> Int {
        if count < 16 { fill() }
        return Int(truncatingIfNeeded: buffer >> UInt64(count - 16)) & 0xFFFF
    }

    /// Consumes `length` bits (at most 16) that `peek16` returned.
    mutating func skip(_ length: Int) throws(CodecError) {
        guard count - length >= padding else { throw .corrupt("JPEG entropy-coded data ends in the middle of a code") }
        count -= length
    }

    /// The next `length` bits (0...16) as an unsigned number.
    mutating func bits(_ length: Int) throws(CodecError) -> Int {
        guard length > 0 else { return 0 }
        let value = peek16() >> (16 - length)
        try skip(length)
        return value
    }

    /// Discards the bits left before a restart marker, then reads that marker, which must be RSTn with
    /// n = `index` mod 8; bytes between the last code and the marker are skipped.
    mutating func restart(_ index: Int) throws(CodecError) {
        buffer = 0
        count = 0
        padding = 0
        stopped = false
        guard let marker = Self.nextMarker(in: data, from: position) else {
            throw .corrupt("JPEG data ends where restart marker RST\(index % 8) is due")
        }
        let code = data[marker + 1]
        guard code == 0xD0 + UInt8(index % 8) else {
            throw .corrupt("expected JPEG restart marker RST\(index % 8), found marker 0xFF\(Self.hex(code))")
        }
        position = marker + 2
    }

    /// Where the marker that ends the scan starts (its 0xFF), or nil when the data ends first.
    func endOfScan() -> Int? {
        Self.nextMarker(in: data, from: position)
    }

    /// The offset of the first 0xFF at or after `start` that begins a marker (not a stuffed 0xFF00 and
    /// not a fill byte before another 0xFF).
    static func nextMarker(in data: [UInt8], from start: Int) -> Int? {
        var index = start
        while index + 1 < data.count {
            if data[index] == 0xFF, data[index + 1] != 0x00, data[index + 1] != 0xFF { return index }
            index += 1
        }
        return nil
    }

    private mutating func fill() {
        while count <= 56 {
            var byte: UInt8 = 0
            if stopped || position >= data.count {
                stopped = true
                padding += 8
            } else if data[position] != 0xFF {
                byte = data[position]
                position += 1
            } else if position + 1 < data.count, data[position + 1] == 0x00 {
                byte = 0xFF
                position += 2
            } else {
                stopped = true
                padding += 8
            }
            buffer = buffer << 8 | UInt64(byte)
            count += 8
        }
    }

    /// Two hexadecimal digits, for messages about markers.
    static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
    }
}
