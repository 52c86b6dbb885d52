/// One Huffman table from a DHT segment (ITU-T T.81 B.2.4.2, Annex C), with a decoder for its codes.
struct JPEGHuffmanTable {
    /// Codes of up to `fastBits` bits are looked up directly: entry = length << 8 | value, 0 when longer.
    private static let fastBits = 9
    private var fast = [UInt16](repeating: 0, count: 1 << fastBits)
    /// Per code length 1...16: the largest code (-1 when none), and the index in `values` of the smallest code
    /// minus that code.
    private var maxCode = [Int](repeating: -1, count: 17)
    private var offset = [Int](repeating: 0, count: 17)
    private let values: [UInt8]

    /// `counts[i]` is the number of codes of length i + 1; `values` the symbols in code order.
    init(counts: [Int], values: [UInt8]) throws(CodecError) {
        guard counts.count == 16, counts.reduce(0, +) == values.count else {
            throw .corrupt("JPEG Huffman table: \(values.count) symbols for \(counts.reduce(0, +)) codes")
        }
        self.values = values
        var code = 0
        var index = 0
        for length in 1...16 {
            let number = counts[length - 1]
            guard code + number <= 1 << length else { throw .corrupt("JPEG Huffman table has more codes of \(length) bits than fit") }
            if number > 0 {
                offset[length] = index - code
                if length <= Self.fastBits {
                    for symbol in 0..<number {
                        let first = (code + symbol) << (Self.fastBits - length)
                        let entry = UInt16(length << 8) | UInt16(values[index + symbol])
                        for slot in first..<(first + (1 << (Self.fastBits - length))) { fast[slot] = entry }
                    }
                }
                code += number
                index += number
                maxCode[length] = code - 1
            }
            code <<= 1
        }
    }

    /// Reads one code and returns its symbol.
    func decode(_ reader: inout JPEGBitReader) throws(CodecError) -> UInt8 {
        let window = reader.peek16()
        let entry = fast[window >> (16 - Self.fastBits)]
        if entry != 0 {
            try reader.skip(Int(entry >> 8))
            return UInt8(truncatingIfNeeded: entry)
        }
        for length in (Self.fastBits + 1)...16 {
            let code = window >> (16 - length)
            if code <= maxCode[length] {
                try reader.skip(length)
                return values[offset[length] + code]
            }
        }
        throw .corrupt("JPEG entropy-coded data holds a code that is not in its Huffman table")
    }
}
