import Codecs
import Testing
import TestSupport

/// RLE, JPEG lossless and JPEG baseline decoding. Reference pixels are `Fixtures/expected/*.pixels`,
/// written by `Fixtures/make_expected_pixels.py` from pydicom's `pixel_array` (native little-endian cells,
/// colour interleaved, frames in order).
@Suite("Legacy decoders: RLE, JPEG lossless, JPEG baseline")
struct LegacyDecoderTests {
    // MARK: Fixtures

    @Test("RLE fixtures decode to pydicom's pixels", arguments: ["mr_rle", "mf_rle", "mf_extended_offset"])
    func rleFixtures(name: String) throws {
        let (frames, description) = try Self.encodedFrames(name)
        #expect(frames.count == description.frames)
        var pixels: [UInt8] = []
        for frame in frames {
            let decoded = try RLEDecoder.decode(frame, description: description)
            #expect(decoded.count == description.bytesPerFrame)
            pixels += decoded
        }
        #expect(pixels == (try Self.expected(name)))
    }

    @Test("JPEG lossless fixtures made by DCMTK decode to their source's pixels exactly",
          arguments: [("ct_jpeg_lossless_sv1", "ct_explicit_le"), ("us_rgb_jpeg_lossless_sv7", "us_rgb_explicit_le")])
    func jpegLosslessFixtures(name: String, source: String) throws {
        let (frames, description) = try Self.encodedFrames(name)
        #expect(frames.count == 1)
        let decoded = try JPEGLosslessDecoder.decode(frames[0], description: description)
        #expect(decoded == (try Self.expected(source)))
    }

    /// pydicom decoded the reference with pylibjpeg-libjpeg, whose 4:2:2 chroma upsampling differs from
    /// libjpeg-turbo's: 2 of the 36864 samples differ by 3, about 6% by 1 or 2, the rest not at all.
    /// (Pillow, which also uses libjpeg-turbo, gives exactly this decoder's pixels.)
    @Test("the JPEG baseline fixture, in two fragments, decodes to RGB within 3 of pydicom's pixels")
    func jpegBaselineFixture() throws {
        let (frames, description) = try Self.encodedFrames("xc_jpeg_baseline")
        #expect(description.photometric == "YBR_FULL_422")
        let decoded = try JPEGBaselineDecoder.decode(frames[0], description: description)
        #expect(decoded.photometric == "RGB")
        let expected = try Self.expected("xc_jpeg_baseline")
        try #require(decoded.pixels.count == expected.count)
        let differences = zip(decoded.pixels, expected).map { abs(Int($0) - Int($1)) }
        let worst = differences.max() ?? 0
        let mean = Double(differences.reduce(0, +)) / Double(differences.count)
        #expect(worst <= 3, "largest difference from pydicom: \(worst)")
        #expect(mean < 0.2, "mean difference from pydicom: \(mean)")
    }

    // MARK: RLE details

    @Test("RLE colour and 16-bit segments go most significant byte first, sample by sample, into interleaved cells")
    func rleSegmentOrder() throws {
        // 2 pixels of RGB with 16-bit samples: R = 0x0102, 0x0304; G = 0x0506, 0x0708; B = 0x090A, 0x0B0C.
        let segments: [[UInt8]] = [[0x01, 0x03], [0x02, 0x04], [0x05, 0x07], [0x06, 0x08], [0x09, 0x0B], [0x0A, 0x0C]]
            .map { [0x01] + $0 }  // a literal run of 2 bytes
        let frame = Self.rleFrame(segments)
        let description = FrameDescription(rows: 1, columns: 2, samplesPerPixel: 3, bitsAllocated: 16, bitsStored: 16, photometric: "RGB")
        #expect(try RLEDecoder.decode(frame, description: description)
            == [0x02, 0x01, 0x06, 0x05, 0x0A, 0x09, 0x04, 0x03, 0x08, 0x07, 0x0C, 0x0B])
    }

    @Test("RLE replicate runs, no-op bytes and padding after the last needed byte")
    func rlePackBits() throws {
        // 3 copies of 7 (0xFE = -2), a no-op (0x80), a literal 1, 2, then a padding literal header.
        let frame = Self.rleFrame([[0xFE, 7, 0x80, 0x01, 1, 2, 0x00]])
        let description = FrameDescription(rows: 1, columns: 5, bitsAllocated: 8, bitsStored: 8)
        #expect(try RLEDecoder.decode(frame, description: description) == [7, 7, 7, 1, 2])
    }

    @Test("malformed RLE headers and segments are reported as corrupt")
    func rleMalformed() throws {
        let description = FrameDescription(rows: 2, columns: 2, bitsAllocated: 8, bitsStored: 8)
        let good = Self.rleFrame([[0x03, 1, 2, 3, 4]])
        #expect(try RLEDecoder.decode(good, description: description) == [1, 2, 3, 4])
        var cases: [(String, [UInt8])] = []
        cases.append(("short header", Array(good.prefix(40))))
        cases.append(("two segments for one", Self.rleFrame([[0x03, 1, 2, 3, 4], [0x03, 1, 2, 3, 4]])))
        var tooMany = good
        tooMany[0] = 16
        cases.append(("16 segments", tooMany))
        var pastEnd = good
        pastEnd[4] = 200
        cases.append(("offset past the end", pastEnd))
        var inHeader = good
        inHeader[4] = 12
        cases.append(("offset inside the header", inHeader))
        cases.append(("segment too short", Self.rleFrame([[0x02, 1, 2, 3]])))
        cases.append(("literal past the end", Self.rleFrame([[0x05, 1, 2]])))
        cases.append(("replicate without its byte", Self.rleFrame([[0x01, 1, 2, 0xFE]])))
        cases.append(("empty segment", Self.rleFrame([[]])))
        for (what, frame) in cases {
            #expect(throws: CodecError.self, "\(what)") { try RLEDecoder.decode(frame, description: description) }
        }
        // A huge image declared for a small frame is refused before its pixels are allocated.
        let huge = FrameDescription(rows: 65535, columns: 65535, samplesPerPixel: 3, bitsAllocated: 16, bitsStored: 16, photometric: "RGB")
        #expect(throws: CodecError.self) { try RLEDecoder.decode(Self.rleFrame(Array(repeating: [0x81, 0], count: 6)), description: huge) }
        let pastEndError = #expect(throws: CodecError.self) { try RLEDecoder.decode(pastEnd, description: description) }
        if case .corrupt? = pastEndError {} else { Issue.record("expected .corrupt, got \(String(describing: pastEndError))") }
    }

    @Test("every truncation of an RLE frame throws, and damaged frames never crash")
    func rleTruncatedAndDamaged() throws {
        let (frames, description) = try Self.encodedFrames("mr_rle")
        let frame = frames[0]
        let full = try RLEDecoder.decode(frame, description: description)
        for cut in 0..<frame.count {
            // The frame's last byte is padding, so only a cut before it must fail.
            if cut < frame.count - 1 {
                #expect(throws: CodecError.self, "prefix of \(cut) bytes") { try RLEDecoder.decode(Array(frame[..<cut]), description: description) }
            } else {
                #expect(try RLEDecoder.decode(Array(frame[..<cut]), description: description) == full)
            }
        }
        var random = SplitMix(seed: 1)
        for _ in 0..<300 {
            var damaged = frame
            for _ in 0..<4 { damaged[random.below(damaged.count)] = UInt8(random.below(256)) }
            if let decoded = try? RLEDecoder.decode(damaged, description: description) {
                #expect(decoded.count == description.bytesPerFrame)
            }
        }
    }

    // MARK: JPEG lossless details

    @Test("JPEG lossless: every predictor, with and without restart intervals", arguments: 1...7)
    func jpegLosslessPredictors(predictor: Int) throws {
        let description = FrameDescription(rows: 24, columns: 37, bitsAllocated: 16, bitsStored: 16)
        let samples = Self.image(width: 37, height: 24, components: 1, bits: 16, seed: UInt64(predictor))
        for restart in [0, 37, 74, 37 * 5] {
            var writer = LosslessJPEGWriter(precision: 16)
            writer.predictor = predictor
            writer.restartInterval = restart
            let stream = writer.encode(samples, width: 37, height: 24, components: 1)
            #expect(try JPEGLosslessDecoder.decode(stream, description: description) == Self.native(samples, description),
                    "predictor \(predictor), restart interval \(restart)")
        }
    }

    @Test("JPEG lossless colour: one interleaved scan or three scans, 8-bit cells")
    func jpegLosslessColour() throws {
        let description = FrameDescription(rows: 9, columns: 13, samplesPerPixel: 3, bitsAllocated: 8, bitsStored: 8, photometric: "RGB")
        let samples = Self.image(width: 13, height: 9, components: 3, bits: 8, seed: 42)
        for interleaved in [true, false] {
            for predictor in [1, 4, 7] {
                var writer = LosslessJPEGWriter(precision: 8)
                writer.predictor = predictor
                writer.interleaved = interleaved
                writer.restartInterval = interleaved ? 13 : 26
                let stream = writer.encode(samples, width: 13, height: 9, components: 3)
                #expect(try JPEGLosslessDecoder.decode(stream, description: description) == samples.map { UInt8($0) },
                        "interleaved \(interleaved), predictor \(predictor)")
            }
        }
    }

    @Test("JPEG lossless point transform, low precision, and the 32768 difference of 16-bit data")
    func jpegLosslessEdges() throws {
        // Point transform 3: samples whose low 3 bits are zero come back exactly.
        let description = FrameDescription(rows: 8, columns: 8, bitsAllocated: 16, bitsStored: 12)
        let coarse = Self.image(width: 8, height: 8, components: 1, bits: 12, seed: 7).map { $0 & ~7 }
        var writer = LosslessJPEGWriter(precision: 12)
        writer.pointTransform = 3
        writer.predictor = 6
        #expect(try JPEGLosslessDecoder.decode(writer.encode(coarse, width: 8, height: 8, components: 1), description: description)
            == Self.native(coarse, description))

        // Precision 2.
        let twoBits = FrameDescription(rows: 5, columns: 6, bitsAllocated: 8, bitsStored: 2)
        let tiny = (0..<30).map { ($0 * 7 + $0 / 6) % 4 }
        #expect(try JPEGLosslessDecoder.decode(LosslessJPEGWriter(precision: 2).encode(tiny, width: 6, height: 5, components: 1),
                                               description: twoBits) == tiny.map { UInt8($0) })

        // Neighbours 0 and 32768 apart: difference category 16, which has no additional bits.
        let sixteen = FrameDescription(rows: 3, columns: 4, bitsAllocated: 16, bitsStored: 16)
        let jumps = [0, 32768, 0, 32768, 32768, 0, 65535, 32767, 0, 0, 32768, 32768]
        let stream = LosslessJPEGWriter(precision: 16).encode(jumps, width: 4, height: 3, components: 1)
        #expect(try JPEGLosslessDecoder.decode(stream, description: sixteen) == Self.native(jumps, sixteen))
    }

    @Test("JPEG lossless signed samples coded with BitsStored bits come back sign-extended")
    func jpegLosslessSigned() throws {
        let description = FrameDescription(rows: 4, columns: 4, bitsAllocated: 16, bitsStored: 12, signed: true)
        let values = [-2048, -1000, -1, 0, 1, 2047, -2000, 300, -5, 5, -600, 600, 1024, -1024, 7, -7]
        let coded = values.map { $0 & 0xFFF }
        let stream = LosslessJPEGWriter(precision: 12).encode(coded, width: 4, height: 4, components: 1)
        let decoded = try JPEGLosslessDecoder.decode(stream, description: description)
        #expect(NativeSamples.read(decoded, description) == values.map { Int32($0) })
    }

    @Test("JPEG lossless frames that disagree with the dataset, or use other processes, are refused")
    func jpegLosslessRefusals() throws {
        let samples = Self.image(width: 8, height: 8, components: 1, bits: 12, seed: 3)
        let stream = LosslessJPEGWriter(precision: 12).encode(samples, width: 8, height: 8, components: 1)
        let wrongSize = FrameDescription(rows: 8, columns: 9, bitsAllocated: 16, bitsStored: 12)
        #expect(throws: CodecError.self) { try JPEGLosslessDecoder.decode(stream, description: wrongSize) }
        let tooNarrow = FrameDescription(rows: 8, columns: 8, bitsAllocated: 8, bitsStored: 8)
        #expect(throws: CodecError.self) { try JPEGLosslessDecoder.decode(stream, description: tooNarrow) }
        // A huge frame header, matching a huge dataset, is refused before its samples are allocated.
        let huge = FrameDescription(rows: 65535, columns: 65535, samplesPerPixel: 3, bitsAllocated: 16, bitsStored: 16, photometric: "RGB")
        let header: [UInt8] = [0xFF, 0xD8, 0xFF, 0xC3, 0x00, 0x11, 16, 0xFF, 0xFF, 0xFF, 0xFF, 3, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0]
        #expect(throws: CodecError.self) { try JPEGLosslessDecoder.decode(header + Array(repeating: 0, count: 1000), description: huge) }
        let (baseline, colour) = try Self.encodedFrames("xc_jpeg_baseline")
        let baselineError = #expect(throws: CodecError.self, "a baseline stream decoded as lossless") {
            try JPEGLosslessDecoder.decode(baseline[0], description: colour)
        }
        if case .unsupported? = baselineError {} else { Issue.record("expected .unsupported, got \(String(describing: baselineError))") }
    }

    @Test("every truncation of a JPEG lossless frame throws, and damaged frames never crash",
          arguments: ["ct_jpeg_lossless_sv1", "us_rgb_jpeg_lossless_sv7"])
    func jpegLosslessTruncatedAndDamaged(name: String) throws {
        let (frames, description) = try Self.encodedFrames(name)
        let frame = frames[0]
        let full = try JPEGLosslessDecoder.decode(frame, description: description)
        let end = try #require(Self.endOfImage(frame))
        // The last entropy-coded byte: 0xFF bytes just before EOI are fill, not data.
        let lastData = try #require(frame[..<end].lastIndex { $0 != 0xFF })
        let step = max(1, end / 150)
        for cut in Array(stride(from: 0, through: lastData, by: step)) + Array(max(0, lastData - 8)...lastData) {
            #expect(throws: CodecError.self, "prefix of \(cut) bytes") {
                try JPEGLosslessDecoder.decode(Array(frame[..<cut]), description: description)
            }
        }
        // Without its fill bytes and EOI marker the image is still complete.
        for cut in (lastData + 1)...end {
            #expect(try JPEGLosslessDecoder.decode(Array(frame[..<cut]), description: description) == full)
        }
        var random = SplitMix(seed: 2)
        for _ in 0..<150 {
            var damaged = frame
            for _ in 0..<3 { damaged[random.below(damaged.count)] = UInt8(random.below(256)) }
            if let decoded = try? JPEGLosslessDecoder.decode(damaged, description: description) {
                #expect(decoded.count == description.bytesPerFrame)
            }
        }
    }

    // MARK: JPEG baseline details

    @Test("every truncation of a JPEG baseline frame throws, and damaged frames never crash")
    func jpegBaselineTruncatedAndDamaged() throws {
        let (frames, description) = try Self.encodedFrames("xc_jpeg_baseline")
        let frame = frames[0]
        let end = try #require(Self.endOfImage(frame))
        for cut in stride(from: 0, to: end + 1, by: 3) {
            #expect(throws: CodecError.self, "prefix of \(cut) bytes") {
                try JPEGBaselineDecoder.decode(Array(frame[..<cut]), description: description)
            }
        }
        var random = SplitMix(seed: 3)
        for _ in 0..<200 {
            var damaged = frame
            for _ in 0..<3 { damaged[random.below(damaged.count)] = UInt8(random.below(256)) }
            if let decoded = try? JPEGBaselineDecoder.decode(damaged, description: description) {
                #expect(decoded.pixels.count == description.bytesPerFrame)
            }
        }
    }

    @Test("JPEG baseline frames that disagree with the dataset are refused; other precisions are unsupported")
    func jpegBaselineRefusals() throws {
        let (frames, description) = try Self.encodedFrames("xc_jpeg_baseline")
        var wrongSize = description
        wrongSize.rows += 1
        #expect(throws: CodecError.mismatch(
            "JPEG frame is 128x96x3, the dataset says 128x97x3")) { try JPEGBaselineDecoder.decode(frames[0], description: wrongSize) }
        var grey = description
        grey.samplesPerPixel = 1
        grey.photometric = "MONOCHROME2"
        #expect(throws: CodecError.self) { try JPEGBaselineDecoder.decode(frames[0], description: grey) }
        var sixteen = description
        sixteen.bitsAllocated = 16
        #expect(throws: CodecError.self) { try JPEGBaselineDecoder.decode(frames[0], description: sixteen) }

        // The same stream claiming 12-bit samples (SOF0 -> SOF1, P = 12).
        var twelve = frames[0]
        let sof = try #require(twelve.indices.dropLast().first { twelve[$0] == 0xFF && twelve[$0 + 1] == 0xC0 })
        twelve[sof + 1] = 0xC1
        twelve[sof + 4] = 12
        let twelveError = #expect(throws: CodecError.self, "a 12-bit stream decoded") { try JPEGBaselineDecoder.decode(twelve, description: description) }
        if case .unsupported? = twelveError {} else { Issue.record("expected .unsupported, got \(String(describing: twelveError))") }
        let huge = FrameDescription(rows: 65535, columns: 65535, samplesPerPixel: 3, bitsAllocated: 8, bitsStored: 8, photometric: "RGB")
        #expect(throws: CodecError.self) { try JPEGBaselineDecoder.decode(frames[0], description: huge) }
        #expect(throws: CodecError.self) { try JPEGBaselineDecoder.decode([], description: description) }
        #expect(throws: CodecError.self) { try JPEGBaselineDecoder.decode(Array("not a JPEG".utf8), description: description) }
    }

    @Test("a monochrome JPEG baseline decodes to grey levels, keeping MONOCHROME1 and otherwise saying MONOCHROME2")
    func jpegBaselineMonochrome() throws {
        for (photometric, reported) in [("MONOCHROME1", "MONOCHROME1"), ("MONOCHROME2", "MONOCHROME2"), ("", "MONOCHROME2")] {
            let description = FrameDescription(rows: 8, columns: 16, bitsAllocated: 8, bitsStored: 8, photometric: photometric)
            let decoded = try JPEGBaselineDecoder.decode(Self.greyJPEG, description: description)
            #expect(decoded.photometric == reported)
            let expected = (0..<128).map { $0 % 16 < 8 ? 100 : 180 }
            #expect(zip(decoded.pixels, expected).allSatisfy { abs(Int($0) - $1) <= 1 })
        }
    }

    // MARK: Helpers

    /// The fixture's compressed frames (one fragment per frame, or every fragment of a single frame joined)
    /// and its image description.
    static func encodedFrames(_ name: String) throws -> (frames: [[UInt8]], description: FrameDescription) {
        let file = try CodecFixtures.file(name + ".dcm")
        let description = try #require(FrameDescription(file.dataSet))
        let fragments = try #require(file.dataSet[.pixelData]?.fragments?.fragments)
        if description.frames == 1 { return ([Array(fragments.joined())], description) }
        try #require(fragments.count == description.frames)
        return (fragments, description)
    }

    static func expected(_ name: String) throws -> [UInt8] {
        try CodecFixtures.expected(name)
    }

    /// A 16x8 grey JPEG baseline image (Pillow, quality 95): left half 100, right half 180.
    static let greyJPEG: [UInt8] = [
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
        0xFF, 0xDB, 0x00, 0x43, 0x00, 0x02, 0x01, 0x01, 0x01, 0x01, 0x01, 0x02, 0x01, 0x01, 0x01, 0x02, 0x02, 0x02, 0x02, 0x02,
        0x04, 0x03, 0x02, 0x02, 0x02, 0x02, 0x05, 0x04, 0x04, 0x03, 0x04, 0x06, 0x05, 0x06, 0x06, 0x06, 0x05, 0x06, 0x06, 0x06,
        0x07, 0x09, 0x08, 0x06, 0x07, 0x09, 0x07, 0x06, 0x06, 0x08, 0x0B, 0x08, 0x09, 0x0A, 0x0A, 0x0A, 0x0A, 0x0A, 0x06, 0x08,
        0x0B, 0x0C, 0x0B, 0x0A, 0x0C, 0x09, 0x0A, 0x0A, 0x0A, 0xFF, 0xC0, 0x00, 0x0B, 0x08, 0x00, 0x08, 0x00, 0x10, 0x01, 0x01,
        0x11, 0x00, 0xFF, 0xC4, 0x00, 0x15, 0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x07, 0x09, 0xFF, 0xC4, 0x00, 0x14, 0x10, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00, 0x0F, 0x54, 0x07,
        0xFF, 0xD9,
    ]

    /// An RLE frame: the 64-byte header, then the segments.
    static func rleFrame(_ segments: [[UInt8]]) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: 64)
        func put(_ value: Int, at index: Int) {
            for byte in 0..<4 { header[4 * index + byte] = UInt8(value >> (8 * byte) & 0xFF) }
        }
        put(segments.count, at: 0)
        var offset = 64
        for (index, segment) in segments.enumerated() {
            put(offset, at: index + 1)
            offset += segment.count
        }
        return header + segments.joined()
    }

    /// Where the EOI marker starts (streams may be padded after it).
    static func endOfImage(_ frame: [UInt8]) -> Int? {
        frame.indices.dropLast().last { frame[$0] == 0xFF && frame[$0 + 1] == 0xD9 }
    }

    /// A smooth image with noise and a few sharp edges, values in 0..<2^bits.
    static func image(width: Int, height: Int, components: Int, bits: Int, seed: UInt64) -> [Int] {
        var random = SplitMix(seed: seed)
        let top = (1 << bits) - 1
        var samples: [Int] = []
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<components {
                    let ramp = (x * 3 + y * 5 + c * 11) * top / (3 * width + 5 * height + 22)
                    let edge = (x > width / 2) != (y > height / 3) ? top / 3 : 0
                    let noise = random.below(1 << max(1, bits - 6))
                    samples.append(min(top, max(0, ramp + edge + noise - (1 << max(1, bits - 6)) / 2)))
                }
            }
        }
        return samples
    }

    /// Native little-endian cells of unsigned values.
    static func native(_ values: [Int], _ description: FrameDescription) -> [UInt8] {
        NativeSamples.write(values.map { Int32($0) }, description)
    }
}
