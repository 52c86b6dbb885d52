import COpenJPEG

/// JPEG 2000 through OpenJPEG: raw J2K codestreams, resolution-first (RPCL) with one tile-part per
/// resolution level, so a codestream can be cut after any level by slicing bytes (see `LevelIndex`).
public enum JPEG2000 {
    public struct Parameters: Sendable, Equatable {
        /// 5/3 reversible (lossless) or 9/7 irreversible.
        public var reversible: Bool
        /// Target raw:compressed ratio against the frame's native bytes (BitsAllocated per sample).
        public var ratio: Double?
        /// Target PSNR in dB instead of a ratio.
        public var psnr: Double?
        /// Decomposition levels; nil for enough that the smallest level is 64 pixels or less on its long side.
        public var levels: Int?

        public init(reversible: Bool = false, ratio: Double? = nil, psnr: Double? = nil, levels: Int? = nil) {
            self.reversible = reversible
            self.ratio = ratio
            self.psnr = psnr
            self.levels = levels
        }

        public static let lossless = Parameters(reversible: true)
    }

    /// Decomposition levels that bring the long side to 64 pixels or less.
    public static func defaultLevels(width: Int, height: Int) -> Int {
        var levels = 0
        var side = max(width, height)
        while side > 64, levels < 12 {
            side = (side + 1) / 2
            levels += 1
        }
        return levels
    }

    /// Encodes one native frame.
    public static func encode(_ frame: [UInt8], _ description: FrameDescription, _ parameters: Parameters) throws(CodecError) -> [UInt8] {
        let values = NativeSamples.read(frame, description)
        let precision = description.bitsStored
        let width = description.columns, height = description.rows, components = description.samplesPerPixel
        var componentParameters = (0..<components).map { _ in
            var p = opj_image_cmptparm_t()
            p.dx = 1; p.dy = 1
            p.w = UInt32(width); p.h = UInt32(height)
            p.prec = UInt32(precision)
            p.sgnd = description.signed ? 1 : 0
            return p
        }
        let colorSpace = components == 3 ? OPJ_CLRSPC_SRGB : OPJ_CLRSPC_GRAY
        guard let image = opj_image_create(UInt32(components), &componentParameters, colorSpace) else {
            throw .library("OpenJPEG could not allocate a \(width)x\(height) image")
        }
        defer { opj_image_destroy(image) }
        image.pointee.x0 = 0; image.pointee.y0 = 0
        image.pointee.x1 = UInt32(width); image.pointee.y1 = UInt32(height)
        let pixels = width * height
        values.withUnsafeBufferPointer { source in
            for c in 0..<components {
                let target = image.pointee.comps[c].data!
                if components == 1 {
                    target.update(from: source.baseAddress!, count: pixels)
                } else {
                    for i in 0..<pixels { target[i] = source[i * components + c] }
                }
            }
        }

        var p = opj_cparameters_t()
        opj_set_default_encoder_parameters(&p)
        let levels = parameters.levels ?? defaultLevels(width: width, height: height)
        p.numresolution = Int32(levels + 1)
        p.prog_order = OPJ_RPCL
        p.tp_on = 1
        p.tp_flag = CChar(UInt8(ascii: "R"))
        p.irreversible = parameters.reversible ? 0 : 1
        p.tcp_numlayers = 1
        p.tcp_mct = components == 3 ? 1 : 0
        if let psnr = parameters.psnr, !parameters.reversible {
            p.cp_fixed_quality = 1
            p.tcp_distoratio.0 = Float(psnr)
        } else {
            p.cp_disto_alloc = 1
            // OpenJPEG's rate is relative to the coded precision, ours to the allocated container.
            p.tcp_rates.0 = parameters.reversible ? 0 : Float((parameters.ratio ?? 10) * Double(precision) / Double(description.bitsAllocated))
        }

        guard let codec = opj_create_compress(OPJ_CODEC_J2K) else { throw .library("OpenJPEG encoder could not be created") }
        defer { opj_destroy_codec(codec) }
        let messages = MessageLog()
        messages.install(on: codec)
        // The codec holds the log unretained: it must outlive every call, not only its last use in Swift.
        defer { withExtendedLifetime(messages) {} }
        guard opj_setup_encoder(codec, &p, image) != 0 else { throw .library("encoder setup: \(messages.text)") }
        let output = MemoryStream()
        guard let stream = output.makeStream(reading: false) else { throw .library("OpenJPEG stream could not be created") }
        defer { opj_stream_destroy(stream) }
        guard opj_start_compress(codec, image, stream) != 0, opj_encode(codec, stream) != 0, opj_end_compress(codec, stream) != 0 else {
            throw .library("encode: \(messages.text)")
        }
        return output.bytes
    }

    /// A decoded frame (possibly at reduced resolution) as integer samples, interleaved.
    public struct Decoded: Sendable {
        public var width: Int
        public var height: Int
        public var components: Int
        public var values: [Int32]
    }

    /// Decodes a codestream (J2K or JP2), `reduce` levels below full resolution. A prefix cut at a level
    /// boundary (and closed with an EOC marker) decodes to that level's size.
    public static func decode(_ codestream: [UInt8], reduce: Int = 0) throws(CodecError) -> Decoded {
        let isJP2 = codestream.count >= 12 && codestream[4..<8].elementsEqual([0x6A, 0x50, 0x20, 0x20])
        guard let codec = opj_create_decompress(isJP2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K) else {
            throw .library("OpenJPEG decoder could not be created")
        }
        defer { opj_destroy_codec(codec) }
        let messages = MessageLog()
        messages.install(on: codec)
        // The codec holds the log unretained: it must outlive every call, not only its last use in Swift.
        defer { withExtendedLifetime(messages) {} }
        var p = opj_dparameters_t()
        opj_set_default_decoder_parameters(&p)
        p.cp_reduce = UInt32(max(0, reduce))
        guard opj_setup_decoder(codec, &p) != 0 else { throw .library("decoder setup: \(messages.text)") }
        opj_decoder_set_strict_mode(codec, 1)
        let input = MemoryStream(bytes: codestream)
        guard let stream = input.makeStream(reading: true) else { throw .library("OpenJPEG stream could not be created") }
        defer { opj_stream_destroy(stream) }
        var imagePointer: UnsafeMutablePointer<opj_image_t>?
        guard opj_read_header(stream, codec, &imagePointer) != 0, let image = imagePointer else {
            throw .corrupt("JPEG 2000 header: \(messages.text)")
        }
        defer { opj_image_destroy(image) }
        guard opj_decode(codec, stream, image) != 0, opj_end_decompress(codec, stream) != 0 else {
            throw .corrupt("JPEG 2000 data: \(messages.text)")
        }
        let components = Int(image.pointee.numcomps)
        guard components >= 1, let first = image.pointee.comps?[0], let _ = first.data else { throw .corrupt("JPEG 2000 image without components") }
        let width = Int(first.w), height = Int(first.h)
        var values = [Int32](repeating: 0, count: width * height * components)
        for c in 0..<components {
            let component = image.pointee.comps[c]
            guard Int(component.w) == width, Int(component.h) == height, let data = component.data else {
                throw .unsupported("JPEG 2000 components of different sizes")
            }
            for i in 0..<(width * height) { values[i * components + c] = data[i] }
        }
        return Decoded(width: width, height: height, components: components, values: values)
    }
}
