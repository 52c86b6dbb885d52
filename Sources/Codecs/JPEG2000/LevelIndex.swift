/// Where each resolution level of a J2K codestream ends, read from its markers (ISO 15444-1 A.4):
/// with one tile and one tile-part per resolution (RPCL), tile-part k ends level k, so the prefix up to
/// `ends[k]` plus an EOC marker decodes to level k. Level 0 is the smallest image.
public struct LevelIndex: Sendable, Equatable, Codable {
    /// Byte offset just past level k's data, for k = 0 ... levels.
    public var ends: [Int]
    /// Pixel size of each level.
    public var sizes: [Size]

    public struct Size: Sendable, Equatable, Codable {
        public var width: Int
        public var height: Int

        public init(width: Int, height: Int) {
            self.width = width
            self.height = height
        }
    }

    public var count: Int { ends.count }

    /// The bytes that decode to level `level`: the prefix, closed with an EOC marker when cut short.
    public func prefix(of codestream: [UInt8], level: Int) -> [UInt8] {
        let end = ends[min(max(level, 0), ends.count - 1)]
        var bytes = Array(codestream[..<end])
        if end < codestream.count || !(bytes.suffix(2) == [0xFF, 0xD9]) { bytes += [0xFF, 0xD9] }
        return bytes
    }

    /// Reads the index; fails for codestreams not laid out one tile-part per resolution of a single tile.
    public init(codestream bytes: [UInt8]) throws(CodecError) {
        func u16(_ at: Int) throws(CodecError) -> Int {
            guard at + 2 <= bytes.count else { throw .corrupt("J2K marker segment runs past the end at byte \(at)") }
            return Int(bytes[at]) << 8 | Int(bytes[at + 1])
        }
        func u32(_ at: Int) throws(CodecError) -> Int {
            try u16(at) << 16 | u16(at + 2)
        }
        guard try u16(0) == 0xFF4F else { throw .corrupt("no SOC marker: not a J2K codestream") }
        var position = 2
        var width = 0, height = 0, tiles = 0, decompositions = -1
        // Main header: marker segments up to the first SOT.
        while true {
            let marker = try u16(position)
            if marker == 0xFF90 { break }
            let length = try u16(position + 2)
            switch marker {
            case 0xFF51:  // SIZ
                let xsiz = try u32(position + 6), ysiz = try u32(position + 10)
                let xo = try u32(position + 14), yo = try u32(position + 18)
                let xt = try u32(position + 22), yt = try u32(position + 26)
                let xto = try u32(position + 30), yto = try u32(position + 34)
                width = xsiz - xo
                height = ysiz - yo
                guard xt > 0, yt > 0 else { throw .corrupt("SIZ with zero tile size") }
                tiles = ((xsiz - xto + xt - 1) / xt) * ((ysiz - yto + yt - 1) / yt)
            case 0xFF52:  // COD: SPcod starts after Scod(1), progression(1), layers(2), MCT(1)
                guard position + 9 < bytes.count else { throw .corrupt("COD runs past the end") }
                decompositions = Int(bytes[position + 9])
            default:
                break
            }
            guard length >= 2 else { throw .corrupt("marker \(String(marker, radix: 16)) with length \(length)") }
            position += 2 + length
        }
        guard width > 0, height > 0, decompositions >= 0 else { throw .corrupt("J2K main header without SIZ or COD") }
        guard tiles == 1 else { throw .unsupported("\(tiles) tiles: the level index needs a single tile") }

        // Tile-parts: SOT(FF90) Lsot Isot Psot TPsot TNsot; Psot counts from the SOT marker (0: to EOC).
        var ends: [Int] = []
        while position + 12 <= bytes.count, try u16(position) == 0xFF90 {
            let psot = try u32(position + 6)
            let end = psot == 0 ? bytes.count - 2 : position + psot
            guard end <= bytes.count, end > position else { throw .corrupt("tile-part length \(psot) runs past the end") }
            ends.append(end)
            position = end
        }
        guard ends.count == decompositions + 1 else {
            throw .unsupported("\(ends.count) tile-parts for \(decompositions + 1) resolution levels: not cut by resolution")
        }
        self.ends = ends
        sizes = (0...decompositions).map { level in
            let shift = decompositions - level
            return Size(width: (width + (1 << shift) - 1) >> shift, height: (height + (1 << shift) - 1) >> shift)
        }
    }
}
