import Codecs
import DICOM
import Testing

@Suite("JPEG 2000 through OpenJPEG, with the resolution-level index")
struct JPEG2000Tests {
    @Test("lossless 5/3 round-trips bit for bit", arguments: ["ct_implicit_le.dcm", "us_rgb_explicit_le.dcm", "cr_explicit_be.dcm"])
    func lossless(name: String) throws {
        let image = try CodecFixtures.frames(name)
        let encoded = try JPEG2000.encode(image.frames[0], image.description, .lossless)
        let decoded = try JPEG2000.decode(encoded)
        #expect(decoded.values == NativeSamples.read(image.frames[0], image.description))
    }

    @Test("lossy 9/7 meets its target ratio within 15%, with fidelity that falls as the ratio rises")
    func ratio() throws {
        let image = try CodecFixtures.frames("cr_explicit_be.dcm")
        let original = NativeSamples.read(image.frames[0], image.description)
        var last = Double.infinity
        for target in [10.0, 20.0, 40.0] {
            let encoded = try JPEG2000.encode(image.frames[0], image.description, .init(ratio: target))
            let achieved = Double(image.description.bytesPerFrame) / Double(encoded.count)
            #expect(abs(achieved - target) / target < 0.15, "target \(target), achieved \(achieved)")
            let fidelity = Fidelity.measure(original: original, derived: try JPEG2000.decode(encoded).values, bitsStored: 10)
            let psnr = try #require(fidelity.psnr)
            #expect(psnr < last)
            #expect(psnr > 25)
            last = psnr
        }
    }

    @Test("every level's prefix decodes to that level's size and equals the reduced decode of the whole",
          arguments: ["ct_implicit_le.dcm", "mr_explicit_le.dcm", "cr_explicit_be.dcm", "us_rgb_explicit_le.dcm"])
    func levels(name: String) throws {
        let image = try CodecFixtures.frames(name)
        let encoded = try JPEG2000.encode(image.frames[0], image.description, .init(ratio: 10, levels: 3))
        let index = try LevelIndex(codestream: encoded)
        #expect(index.count == 4)
        #expect(index.sizes.last == LevelIndex.Size(width: image.description.columns, height: image.description.rows))
        #expect(index.ends.last == encoded.count - 2)  // the last tile-part ends at the EOC marker
        #expect(index.ends == index.ends.sorted())
        for level in 0..<index.count {
            let prefix = index.prefix(of: encoded, level: level)
            let decoded = try JPEG2000.decode(prefix, reduce: index.count - 1 - level)
            #expect(decoded.width == index.sizes[level].width && decoded.height == index.sizes[level].height)
            let reference = try JPEG2000.decode(encoded, reduce: index.count - 1 - level)
            #expect(decoded.values == reference.values, "level \(level) of \(name)")
        }
    }

    @Test("by default the smallest level is at most 64 pixels on its long side")
    func defaultLevels() {
        #expect(JPEG2000.defaultLevels(width: 512, height: 512) == 3)
        #expect(JPEG2000.defaultLevels(width: 2000, height: 2500) == 6)
        #expect(JPEG2000.defaultLevels(width: 64, height: 32) == 0)
    }

    @Test("a prefix cut inside a tile-part or garbage fails cleanly")
    func corrupt() throws {
        let image = try CodecFixtures.frames("mr_explicit_le.dcm")
        let encoded = try JPEG2000.encode(image.frames[0], image.description, .init(ratio: 10))
        #expect(throws: CodecError.self) { try JPEG2000.decode([0xFF, 0x4F, 0xFF, 0x51, 0, 1]) }
        #expect(throws: CodecError.self) { try LevelIndex(codestream: [1, 2, 3]) }
        for cut in stride(from: 0, to: encoded.count, by: max(1, encoded.count / 40)) {
            _ = try? JPEG2000.decode(Array(encoded[..<cut]) + [0xFF, 0xD9])
        }
    }
}
