/// A small JPEG lossless (ITU-T T.81 process 14) encoder, only for testing the decoder on what no fixture
/// has: every predictor, point transform, restart intervals, several scans, difference category 16.
/// One fixed Huffman table (categories 0-16) codes every component.
struct LosslessJPEGWriter {
    var precision: Int
    var predictor = 1
    var pointTransform = 0
    /// MCUs (pixels) per restart interval; 0 for none.
    var restartInterval = 0
    /// One scan holding every component, or one scan per component.
    var interleaved = true

    /// Code counts per length 1...16 and the categories in code order.
    private static let counts = [0, 3] + Array(repeating: 1, count: 14)
    private static let symbols: [UInt8] = Array(0...16)

    /// `samples` are interleaved, `components` per pixel, each in 0..<2^precision.
    func encode(_ samples: [Int], width: Int, height: Int, components: Int) -> [UInt8] {
        var out: [UInt8] = [0xFF, 0xD8]
        func segment(_ marker: UInt8, _ body: [UInt8]) {
            out += [0xFF, marker, UInt8((body.count + 2) >> 8), UInt8((body.count + 2) & 0xFF)] + body
        }
        var frame: [UInt8] = [UInt8(precision), UInt8(height >> 8), UInt8(height & 0xFF), UInt8(width >> 8), UInt8(width & 0xFF), UInt8(components)]
        for index in 0..<components { frame += [UInt8(index + 1), 0x11, 0] }
        segment(0xC3, frame)
        segment(0xC4, [0x00] + Self.counts.map(UInt8.init) + Self.symbols)
        if restartInterval > 0 { segment(0xDD, [UInt8(restartInterval >> 8), UInt8(restartInterval & 0xFF)]) }

        // Canonical codes (T.81 Annex C).
        var codes = [(code: Int, length: Int)](repeating: (0, 0), count: 17)
        var code = 0, index = 0
        for length in 1...16 {
            for _ in 0..<Self.counts[length - 1] {
                codes[Int(Self.symbols[index])] = (code, length)
                code += 1
                index += 1
            }
            code <<= 1
        }

        let scans = interleaved ? [Array(0..<components)] : (0..<components).map { [$0] }
        let values = samples.map { $0 >> pointTransform }
        let initial = 1 << (precision - pointTransform - 1)
        for scan in scans {
            var body: [UInt8] = [UInt8(scan.count)]
            for component in scan { body += [UInt8(component + 1), 0x00] }
            body += [UInt8(predictor), 0, UInt8(pointTransform)]
            segment(0xDA, body)
            var bits = BitWriter()
            var restarts = 0
            var intervalStart = 0, intervalRow = 0
            for pixel in 0..<(width * height) {
                let row = pixel / width, column = pixel % width
                if restartInterval > 0, pixel > 0, pixel % restartInterval == 0 {
                    bits.flush()
                    bits.bytes += [0xFF, 0xD0 + UInt8(restarts % 8)]
                    restarts += 1
                    intervalStart = pixel
                    intervalRow = row
                }
                for component in scan {
                    let at = pixel * components + component
                    let prediction: Int
                    if pixel == intervalStart {
                        prediction = initial
                    } else if row == intervalRow {
                        prediction = values[at - components]
                    } else if column == 0 {
                        prediction = values[at - width * components]
                    } else {
                        let a = values[at - components], b = values[at - width * components], c = values[at - width * components - components]
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
                    var difference = (values[at] - prediction) & 0xFFFF
                    if difference >= 32768 { difference -= 65536 }
                    if difference == -32768 {
                        bits.write(codes[16].code, codes[16].length)
                        continue
                    }
                    let magnitude = abs(difference)
                    let category = magnitude == 0 ? 0 : Int.bitWidth - magnitude.leadingZeroBitCount
                    bits.write(codes[category].code, codes[category].length)
                    if category > 0 {
                        bits.write(difference > 0 ? difference : difference + (1 << category) - 1, category)
                    }
                }
            }
            bits.flush()
            out += bits.bytes
        }
        return out + [0xFF, 0xD9]
    }

    /// Entropy-coded bytes: most significant bit first, a zero stuffed after each 0xFF.
    private struct BitWriter {
        var bytes: [UInt8] = []
        private var accumulator = 0
        private var count = 0

        mutating func write(_ value: Int, _ length: Int) {
            for shift in stride(from: length - 1, through: 0, by: -1) {
                accumulator = accumulator << 1 | (value >> shift & 1)
                count += 1
                if count == 8 { emit() }
            }
        }

        /// Pads the last byte with one-bits.
        mutating func flush() {
            while count != 0 {
                accumulator = accumulator << 1 | 1
                count += 1
                if count == 8 { emit() }
            }
        }

        private mutating func emit() {
            let byte = UInt8(accumulator & 0xFF)
            bytes.append(byte)
            if byte == 0xFF { bytes.append(0) }
            accumulator = 0
            count = 0
        }
    }
}
