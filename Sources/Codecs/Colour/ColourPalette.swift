import DICOM

/// The red, green and blue lookup tables of a PALETTE COLOR image (PS3.3 C.7.6.3.1.5-6), plain or segmented
/// (C.7.9.2), and the colours they give its indices.
public struct ColourPalette: Sendable, Equatable {
    /// The index the first entry maps; indices below it take the first entry, above the last the last.
    public var firstMapped: Int
    /// Bits of each entry: 8 or 16.
    public var bits: Int
    public var red: [Int32]
    public var green: [Int32]
    public var blue: [Int32]

    public init(_ dataSet: DataSet, signedIndices: Bool) throws(CodecError) {
        let channels: [(descriptor: Tag, data: Tag, segmented: Tag)] = [
            (.redPaletteColorLookupTableDescriptor, .redPaletteColorLookupTableData, .segmentedRedPaletteColorLookupTableData),
            (.greenPaletteColorLookupTableDescriptor, .greenPaletteColorLookupTableData, .segmentedGreenPaletteColorLookupTableData),
            (.bluePaletteColorLookupTableDescriptor, .bluePaletteColorLookupTableData, .segmentedBluePaletteColorLookupTableData),
        ]
        var tables: [[Int32]] = []
        var first = 0, bits = 16
        for channel in channels {
            guard let descriptor = dataSet[channel.descriptor]?.bytes, descriptor.count >= 6 else {
                throw .unsupported("PALETTE COLOR without a palette lookup table descriptor")
            }
            let words = Self.words(descriptor)
            let entries = words[0] == 0 ? 65536 : Int(words[0])
            first = signedIndices ? Int(Int16(bitPattern: words[1])) : Int(words[1])
            bits = Int(words[2])
            guard bits == 8 || bits == 16 else { throw .unsupported("palette entries of \(bits) bits") }
            var table: [Int32]
            if let data = dataSet[channel.data]?.bytes, !data.isEmpty {
                // Entries are 16-bit words; an 8-bit table may also be packed one byte an entry.
                table = data.count == entries ? data.map { Int32($0) } : Self.words(data).map { Int32($0) }
            } else if let segmented = dataSet[channel.segmented]?.bytes, !segmented.isEmpty {
                table = try Self.expand(Self.words(segmented).map { Int32($0) })
            } else {
                throw .unsupported("PALETTE COLOR without palette lookup table data")
            }
            guard table.count >= entries else { throw .corrupt("palette lookup table of \(table.count) entries, its descriptor says \(entries)") }
            table.removeSubrange(entries...)
            let mask = Int32((1 << bits) - 1)
            tables.append(table.map { $0 & mask })
        }
        firstMapped = first
        self.bits = bits
        (red, green, blue) = (tables[0], tables[1], tables[2])
    }

    /// Interleaved RGB values for palette indices.
    public func colours(of indices: [Int32]) -> [Int32] {
        var out = [Int32](repeating: 0, count: indices.count * 3)
        let last = red.count - 1
        for (pixel, index) in indices.enumerated() {
            let entry = min(max(Int(index) - firstMapped, 0), last)
            out[3 * pixel] = red[entry]
            out[3 * pixel + 1] = green[entry]
            out[3 * pixel + 2] = blue[entry]
        }
        return out
    }

    private static func words(_ bytes: [UInt8]) -> [UInt16] {
        stride(from: 0, to: bytes.count - 1, by: 2).map { UInt16(bytes[$0]) | UInt16(bytes[$0 + 1]) << 8 }
    }

    /// Expands segmented lookup table data (C.7.9.2): discrete, linear and indirect segments of 16-bit words.
    private static func expand(_ data: [Int32], limit: Int? = nil, previous: Int32? = nil, depth: Int = 0) throws(CodecError) -> [Int32] {
        guard depth < 8 else { throw .corrupt("segmented palette: indirect segments nested too deep") }
        var table: [Int32] = []
        var offset = 0, segments = 0
        while offset + 1 < data.count, segments != limit, table.count <= 65536 {
            let opcode = data[offset], length = Int(data[offset + 1])
            offset += 2
            switch opcode {
            case 0:
                guard offset + length <= data.count else { throw .corrupt("segmented palette: discrete segment past the end") }
                table += data[offset..<offset + length]
                offset += length
            case 1:
                guard offset < data.count, let start = table.last ?? previous else {
                    throw .corrupt("segmented palette: a linear segment with nothing before it")
                }
                let end = data[offset]
                offset += 1
                let step = Double(end - start) / Double(max(length, 1))
                table += (1...max(length, 1)).prefix(length).map { Int32((Double(start) + step * Double($0)).rounded(.toNearestOrEven)) }
            case 2:
                guard offset + 1 < data.count, let last = table.last else {
                    throw .corrupt("segmented palette: an indirect segment with nothing before it")
                }
                let target = Int(data[offset + 1]) << 16 | Int(data[offset])
                offset += 2
                guard target < data.count else { throw .corrupt("segmented palette: indirect offset past the end") }
                table += try expand(Array(data[target...]), limit: length, previous: last, depth: depth + 1)
            default:
                throw .corrupt("segmented palette: unknown segment type \(opcode)")
            }
            segments += 1
        }
        return table
    }
}
