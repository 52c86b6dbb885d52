import CJPEGShim
import CZlib
import Foundation

/// An 8-bit picture for a screen: grey or RGB, rows top to bottom, encodable as PNG or JPEG.
public struct RenderedImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    /// 1 (grey) or 3 (RGB).
    public var components: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, components: Int, pixels: [UInt8]) {
        self.width = width
        self.height = height
        self.components = components
        self.pixels = pixels
    }

    /// Scaled to fit inside `maximum` x `maximum` (aspect kept) by averaging the source pixels each
    /// target pixel covers; never enlarged.
    public func fitted(into maximum: Int) -> RenderedImage {
        guard maximum > 0, max(width, height) > maximum else { return self }
        let scale = Double(maximum) / Double(max(width, height))
        let targetWidth = max(1, Int((Double(width) * scale).rounded())), targetHeight = max(1, Int((Double(height) * scale).rounded()))
        var out = [UInt8](repeating: 0, count: targetWidth * targetHeight * components)
        for y in 0..<targetHeight {
            let y0 = y * height / targetHeight, y1 = max(y0 + 1, (y + 1) * height / targetHeight)
            for x in 0..<targetWidth {
                let x0 = x * width / targetWidth, x1 = max(x0 + 1, (x + 1) * width / targetWidth)
                for c in 0..<components {
                    var sum = 0
                    for sy in y0..<y1 {
                        for sx in x0..<x1 { sum += Int(pixels[(sy * width + sx) * components + c]) }
                    }
                    out[(y * targetWidth + x) * components + c] = UInt8(sum / ((y1 - y0) * (x1 - x0)))
                }
            }
        }
        return RenderedImage(width: targetWidth, height: targetHeight, components: components, pixels: out)
    }

    /// PNG (8-bit grey or RGB), scanlines unfiltered and deflated with zlib.
    public func png() -> [UInt8] {
        var raw: [UInt8] = []
        raw.reserveCapacity((width * components + 1) * height)
        for row in 0..<height {
            raw.append(0)
            raw += pixels[(row * width * components)..<((row + 1) * width * components)]
        }
        var compressed = [UInt8](repeating: 0, count: Int(compressBound(UInt(raw.count))))
        var length = UInt(compressed.count)
        _ = compress2(&compressed, &length, raw, UInt(raw.count), 6)
        compressed.removeSubrange(Int(length)...)

        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var header: [UInt8] = []
        header += Self.bigEndian(UInt32(width)) + Self.bigEndian(UInt32(height))
        header += [8, components == 3 ? 2 : 0, 0, 0, 0]
        Self.chunk("IHDR", header, to: &out)
        Self.chunk("IDAT", compressed, to: &out)
        Self.chunk("IEND", [], to: &out)
        return out
    }

    /// Baseline JPEG at `quality` (1-100).
    public func jpeg(quality: Int = 90) throws(CodecError) -> [UInt8] {
        var output: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        var message = [CChar](repeating: 0, count: 200)
        let status = strata_jpeg_encode(pixels, Int32(width), Int32(height), Int32(components), Int32(min(max(quality, 1), 100)),
                                        &output, &size, &message)
        defer { free(output) }
        guard status == STRATA_JPEG_OK, let output else {
            throw .library("JPEG encoding: \(String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
        }
        return Array(UnsafeBufferPointer(start: output, count: Int(size)))
    }

    private static func chunk(_ type: String, _ data: [UInt8], to out: inout [UInt8]) {
        let typed = Array(type.utf8) + data
        out += bigEndian(UInt32(data.count)) + typed
        out += bigEndian(UInt32(crc32(0, typed, UInt32(typed.count))))
    }

    private static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }
}
