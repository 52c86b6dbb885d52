/// JPEG lossless, ITU-T T.81 process 14: SOF3 frames, Huffman-coded differences from one of the seven
/// predictors (Annex H). Transfer syntaxes 1.2.840.10008.1.2.4.70 (selection value 1) and
/// 1.2.840.10008.1.2.4.57 (any). Written here because the system libjpeg-turbo 2.1 cannot decode it.
///
/// Handles precision 2-16, point transform, restart intervals, and 1 or 3 components with sampling
/// factors 1x1, in one interleaved scan or one scan each. Hierarchical, arithmetic-coded and DCT processes
/// are `.unsupported`; malformed data is `.corrupt`; a frame that disagrees with the dataset is `.mismatch`.
public enum JPEGLosslessDecoder {
    /// Decodes one frame to native pixel data: little-endian cells of `description.bitsAllocated` bits,
    /// colour interleaved, exactly `description.bytesPerFrame` bytes. Samples of a signed image are
    /// sign-extended from the coded precision (or from BitsStored, when that is smaller).
    public static func decode(_ frame: [UInt8], description: FrameDescription) throws(CodecError) -> [UInt8] {
        guard description.bitsAllocated == 8 || description.bitsAllocated == 16 else {
            throw .unsupported("JPEG lossless into \(description.bitsAllocated)-bit cells")
        }
        guard frame.count >= 2, frame[0] == 0xFF, frame[1] == 0xD8 else {
            throw .corrupt("JPEG data does not start with an SOI marker")
        }
        var tables = [JPEGHuffmanTable?](repeating: nil, count: 4)
        var restartInterval = 0
        var precision = 0
        var identifiers: [UInt8] = []  // component identifiers in frame order
        var decoded: [Bool] = []
        var samples: [UInt16] = []
        var position = 2

        markers: while let at = JPEGBitReader.nextMarker(in: frame, from: position) {
            let code = frame[at + 1]
            position = at + 2
            switch code {
            case 0xD9: break markers
            case 0xD8: throw .corrupt("second SOI marker at offset \(at)")
            case 0x01, 0xD0...0xD7: continue markers  // no segment follows
            default: break
            }
            guard position + 2 <= frame.count else {
                throw .corrupt("JPEG marker 0xFF\(JPEGBitReader.hex(code)) at offset \(at) has no segment length")
            }
            let length = Int(frame[position]) << 8 | Int(frame[position + 1])
            guard length >= 2, position + length <= frame.count else {
                throw .corrupt("JPEG segment 0xFF\(JPEGBitReader.hex(code)) at offset \(at) of length \(length) runs past the data's end")
            }
            let body = Array(frame[(position + 2)..<(position + length)])
            position += length

            switch code {
            case 0xC4:
                try readHuffmanTables(body, into: &tables)
            case 0xDD:
                guard body.count == 2 else { throw .corrupt("JPEG DRI segment of \(body.count) bytes (2 expected)") }
                restartInterval = Int(body[0]) << 8 | Int(body[1])
            case 0xC3:
                guard identifiers.isEmpty else { throw .corrupt("second JPEG frame header") }
                (precision, identifiers) = try readFrameHeader(body, description)
                // Every sample takes at least one bit: checked before anything is allocated.
                guard description.samplesPerFrame <= 8 * frame.count else {
                    throw .corrupt("\(frame.count) bytes of JPEG data cannot hold \(description.samplesPerFrame) samples")
                }
                decoded = Array(repeating: false, count: identifiers.count)
                samples = Array(repeating: 0, count: description.rows * description.columns * identifiers.count)
            case 0xC0, 0xC1, 0xC2:
                throw .unsupported("JPEG process SOF\(code - 0xC0) is DCT-based, not lossless")
            case 0xC5...0xC7, 0xC9...0xCB, 0xCC...0xCF:
                throw .unsupported("hierarchical or arithmetic-coded JPEG (marker 0xFF\(JPEGBitReader.hex(code)))")
            case 0xDA:
                guard !identifiers.isEmpty else { throw .corrupt("JPEG scan before the frame header") }
                let scan = try readScanHeader(body, identifiers: identifiers, decoded: decoded, tables: tables, precision: precision)
                let end = try decodeScan(frame, from: position, into: &samples, scan: scan.components,
                                         componentCount: identifiers.count, width: description.columns, height: description.rows,
                                         predictor: scan.predictor, precision: precision, transform: scan.transform,
                                         restartInterval: restartInterval)
                for component in scan.components { decoded[component.index] = true }
                position = end
            default:
                break  // APPn, COM, DQT, DNL and others carry nothing needed here
            }
        }
        guard !identifiers.isEmpty else { throw .corrupt("JPEG data has no lossless (SOF3) frame header") }
        guard !decoded.contains(false) else { throw .corrupt("JPEG data ends before every component was decoded") }
        return native(samples, precision: precision, description: description)
    }

    /// DHT: one or more tables. Only the DC-class tables (Tc = 0) code lossless differences.
    private static func readHuffmanTables(_ body: [UInt8], into tables: inout [JPEGHuffmanTable?]) throws(CodecError) {
        var at = 0
        while at < body.count {
            guard body.count - at >= 17 else { throw .corrupt("JPEG DHT segment ends inside a table's code counts") }
            let tableClass = body[at] >> 4, slot = Int(body[at] & 0x0F)
            guard tableClass <= 1, slot < 4 else { throw .corrupt("JPEG DHT table class \(tableClass) destination \(slot)") }
            let counts = (0..<16).map { Int(body[at + 1 + $0]) }
            let total = counts.reduce(0, +)
            guard body.count - at - 17 >= total else { throw .corrupt("JPEG DHT segment ends inside a table's symbols") }
            let values = Array(body[(at + 17)..<(at + 17 + total)])
            if tableClass == 0 { tables[slot] = try JPEGHuffmanTable(counts: counts, values: values) }
            at += 17 + total
        }
    }

    /// SOF3: precision and component identifiers, checked against the dataset.
    private static func readFrameHeader(_ body: [UInt8], _ description: FrameDescription) throws(CodecError) -> (Int, [UInt8]) {
        guard body.count >= 6 else { throw .corrupt("JPEG frame header of \(body.count) bytes") }
        let precision = Int(body[0])
        let lines = Int(body[1]) << 8 | Int(body[2])
        let columns = Int(body[3]) << 8 | Int(body[4])
        let count = Int(body[5])
        guard body.count == 6 + 3 * count else { throw .corrupt("JPEG frame header of \(body.count) bytes for \(count) components") }
        guard (2...16).contains(precision) else { throw .corrupt("JPEG lossless sample precision \(precision) (2-16 allowed)") }
        guard lines > 0 else { throw .unsupported("JPEG frame whose number of lines comes later (DNL)") }
        guard columns == description.columns, lines == description.rows, count == description.samplesPerPixel else {
            throw .mismatch("JPEG frame is \(columns)x\(lines)x\(count), the dataset says \(description.columns)x\(description.rows)x\(description.samplesPerPixel)")
        }
        guard precision <= description.bitsAllocated else {
            throw .mismatch("JPEG samples of \(precision) bits do not fit the dataset's \(description.bitsAllocated)-bit cells")
        }
        var identifiers: [UInt8] = []
        for index in 0..<count {
            let identifier = body[6 + 3 * index], sampling = body[7 + 3 * index]
            guard !identifiers.contains(identifier) else { throw .corrupt("JPEG component identifier \(identifier) appears twice") }
            guard sampling == 0x11 else {
                throw .unsupported("JPEG lossless component sampling factors \(sampling >> 4)x\(sampling & 0x0F)")
            }
            identifiers.append(identifier)
        }
        return (precision, identifiers)
    }

    /// SOS: the scan's components (frame index and Huffman table), predictor and point transform.
    private static func readScanHeader(_ body: [UInt8], identifiers: [UInt8], decoded: [Bool], tables: [JPEGHuffmanTable?],
                                       precision: Int) throws(CodecError)
        -> (components: [(index: Int, table: JPEGHuffmanTable)], predictor: Int, transform: Int) {
        guard let count = body.first.map(Int.init), count >= 1, count <= identifiers.count, body.count == 4 + 2 * count else {
            throw .corrupt("JPEG scan header of \(body.count) bytes")
        }
        var components: [(index: Int, table: JPEGHuffmanTable)] = []
        for position in 0..<count {
            let identifier = body[1 + 2 * position], slot = Int(body[2 + 2 * position] >> 4)
            guard let index = identifiers.firstIndex(of: identifier) else {
                throw .corrupt("JPEG scan names component \(identifier), which the frame does not have")
            }
            guard !decoded[index], !components.contains(where: { $0.index == index }) else {
                throw .corrupt("JPEG component \(identifier) is coded in more than one scan")
            }
            guard slot < 4, let table = tables[slot] else { throw .corrupt("JPEG scan uses Huffman table \(slot), which is not defined") }
            components.append((index, table))
        }
        let predictor = Int(body[1 + 2 * count])
        let transform = Int(body[3 + 2 * count] & 0x0F)
        guard (1...7).contains(predictor) else { throw .corrupt("JPEG lossless predictor \(predictor) (1-7 allowed)") }
        guard transform < precision else { throw .corrupt("JPEG point transform \(transform) for \(precision)-bit samples") }
        return (components, predictor, transform)
    }

    /// Decodes the entropy-coded data of one scan into `samples` (interleaved over all `componentCount`
    /// components), undoing the point transform at the end. Returns where the data after the scan starts.
    private static func decodeScan(_ frame: [UInt8], from start: Int, into samples: inout [UInt16],
                                   scan: [(index: Int, table: JPEGHuffmanTable)], componentCount: Int, width: Int, height: Int,
                                   predictor: Int, precision: Int, transform: Int, restartInterval: Int) throws(CodecError) -> Int {
        var reader = JPEGBitReader(frame, at: start)
        let initial = 1 << (precision - transform - 1)
        let line = width * componentCount  // from one sample to the one above it
        var untilRestart = restartInterval
        var restarts = 0
        // Where the current restart interval began: its first sample uses `initial`, the rest of that line Ra.
        var intervalStart = 0
        var intervalRow = 0
        var pixel = 0
        for row in 0..<height {
            for column in 0..<width {
                if restartInterval > 0 {
                    if untilRestart == 0 {
                        try reader.restart(restarts)
                        restarts += 1
                        untilRestart = restartInterval
                        intervalStart = pixel
                        intervalRow = row
                    }
                    untilRestart -= 1
                }
                for component in scan {
                    let category = Int(try component.table.decode(&reader))
                    let difference: Int
                    switch category {
                    case 0:
                        difference = 0
                    case 1...15:
                        let bits = try reader.bits(category)
                        difference = bits < 1 << (category - 1) ? bits - (1 << category) + 1 : bits
                    case 16:
                        difference = 32768  // no additional bits (T.81 H.1.2.2)
                    default:
                        throw .corrupt("JPEG lossless difference category \(category) (0-16 allowed)")
                    }
                    let at = pixel * componentCount + component.index
                    let prediction: Int
                    if pixel == intervalStart {
                        prediction = initial
                    } else if row == intervalRow {
                        prediction = Int(samples[at - componentCount])
                    } else if column == 0 {
                        prediction = Int(samples[at - line])
                    } else {
                        let a = Int(samples[at - componentCount]), b = Int(samples[at - line]), c = Int(samples[at - line - componentCount])
                        switch predictor {
                        case 1: prediction = a
                        case 2: prediction = b
                        case 3: prediction = c
                        case 4: prediction = a + b - c
                        case 5: prediction = a + ((b - c) >> 1)
                        case 6: prediction = b + ((a - c) >> 1)
                        default: prediction = (a + b) >> 1
                        }
                    }
                    samples[at] = UInt16(truncatingIfNeeded: prediction + difference)
                }
                pixel += 1
            }
        }
        if transform > 0 {
            for pixel in 0..<(width * height) {
                for component in scan {
                    let at = pixel * componentCount + component.index
                    samples[at] = samples[at] << transform
                }
            }
        }
        return reader.endOfScan() ?? frame.count
    }

    /// Native little-endian cells from the decoded samples.
    private static func native(_ samples: [UInt16], precision: Int, description: FrameDescription) -> [UInt8] {
        let mask = (1 << precision) - 1
        let signBits = min(precision, description.bitsStored)
        let extend = description.signed && signBits < description.bitsAllocated
        let signMask = (1 << signBits) - 1, signBit = 1 << (signBits - 1)
        let wide = description.bitsAllocated == 16
        var output = [UInt8](repeating: 0, count: samples.count * (wide ? 2 : 1))
        for index in 0..<samples.count {
            var value = Int(samples[index]) & mask
            if extend {
                value &= signMask
                if value & signBit != 0 { value -= signMask + 1 }
            }
            if wide {
                output[2 * index] = UInt8(truncatingIfNeeded: value)
                output[2 * index + 1] = UInt8(truncatingIfNeeded: value >> 8)
            } else {
                output[index] = UInt8(truncatingIfNeeded: value)
            }
        }
        return output
    }
}
