import CCharLS

/// JPEG-LS lossless through CharLS (transfer syntax 1.2.840.10008.1.2.4.80).
public enum JPEGLS {
    /// Encodes one native frame, its samples coded with BitsStored bits.
    public static func encode(_ frame: [UInt8], _ description: FrameDescription) throws(CodecError) -> [UInt8] {
        let values = NativeSamples.read(frame, description)
        let bits = description.bitsStored
        guard bits >= 2 else { throw .unsupported("JPEG-LS codes samples of 2 to 16 bits, not \(bits)") }
        // JPEG-LS codes unsigned samples: signed values go in as their low `bits` bits.
        let mask = (UInt32(1) << bits) - 1
        let bytesPerSample = bits > 8 ? 2 : 1
        var source = [UInt8](repeating: 0, count: values.count * bytesPerSample)
        for (i, value) in values.enumerated() {
            let sample = UInt32(bitPattern: value) & mask
            if bytesPerSample == 1 {
                source[i] = UInt8(sample)
            } else {
                source[2 * i] = UInt8(sample & 0xFF)
                source[2 * i + 1] = UInt8(sample >> 8)
            }
        }
        guard let encoder = charls_jpegls_encoder_create() else { throw .library("CharLS encoder could not be created") }
        defer { charls_jpegls_encoder_destroy(encoder) }
        var info = charls_frame_info(width: UInt32(description.columns), height: UInt32(description.rows),
                                     bits_per_sample: Int32(bits), component_count: Int32(description.samplesPerPixel))
        try check(charls_jpegls_encoder_set_frame_info(encoder, &info), "frame info")
        if description.samplesPerPixel > 1 {
            try check(charls_jpegls_encoder_set_interleave_mode(encoder, CHARLS_INTERLEAVE_MODE_SAMPLE), "interleave mode")
        }
        var estimate = 0
        try check(charls_jpegls_encoder_get_estimated_destination_size(encoder, &estimate), "size estimate")
        var destination = [UInt8](repeating: 0, count: estimate)
        var written = 0
        let status = destination.withUnsafeMutableBytes { target in
            source.withUnsafeBytes { input -> charls_jpegls_errc in
                let error = charls_jpegls_encoder_set_destination_buffer(encoder, target.baseAddress!, target.count)
                guard error == CHARLS_JPEGLS_ERRC_SUCCESS else { return error }
                let encoded = charls_jpegls_encoder_encode_from_buffer(encoder, input.baseAddress!, input.count, 0)
                guard encoded == CHARLS_JPEGLS_ERRC_SUCCESS else { return encoded }
                return charls_jpegls_encoder_get_bytes_written(encoder, &written)
            }
        }
        try check(status, "encode")
        destination.removeSubrange(written...)
        return destination
    }

    /// Decodes one frame to native cells laid out as `description` says (interleaved, little endian), each
    /// holding its sample as the header defines it (BitsStored, Pixel Representation), not as the stream does.
    public static func decode(_ codestream: [UInt8], _ description: FrameDescription) throws(CodecError) -> [UInt8] {
        // CharLS spends seconds before failing on a truncated stream: refuse one without its EOI marker
        // (DICOM may pad the fragment with one zero byte after it).
        let tail = codestream.suffix(3)
        guard tail.count >= 2, tail.suffix(2).elementsEqual([0xFF, 0xD9]) || tail.dropLast().suffix(2).elementsEqual([0xFF, 0xD9]) else {
            throw .corrupt("JPEG-LS stream does not end with an EOI marker: truncated")
        }
        guard let decoder = charls_jpegls_decoder_create() else { throw .library("CharLS decoder could not be created") }
        defer { charls_jpegls_decoder_destroy(decoder) }
        var info = charls_frame_info()
        var mode = CHARLS_INTERLEAVE_MODE_NONE
        var decoded: [UInt8] = []
        let status = codestream.withUnsafeBytes { input -> charls_jpegls_errc in
            var error = charls_jpegls_decoder_set_source_buffer(decoder, input.baseAddress!, input.count)
            guard error == CHARLS_JPEGLS_ERRC_SUCCESS else { return error }
            error = charls_jpegls_decoder_read_header(decoder)
            guard error == CHARLS_JPEGLS_ERRC_SUCCESS else { return error }
            error = charls_jpegls_decoder_get_frame_info(decoder, &info)
            guard error == CHARLS_JPEGLS_ERRC_SUCCESS else { return error }
            error = charls_jpegls_decoder_get_interleave_mode(decoder, &mode)
            guard error == CHARLS_JPEGLS_ERRC_SUCCESS else { return error }
            guard Int(info.width) == description.columns, Int(info.height) == description.rows,
                  Int(info.component_count) == description.samplesPerPixel, info.bits_per_sample <= description.bitsAllocated else {
                return CHARLS_JPEGLS_ERRC_INVALID_PARAMETER_WIDTH
            }
            var size = 0
            error = charls_jpegls_decoder_get_destination_size(decoder, 0, &size)
            guard error == CHARLS_JPEGLS_ERRC_SUCCESS, size <= description.bytesPerFrame * 2 else { return error }
            decoded = [UInt8](repeating: 0, count: size)
            return decoded.withUnsafeMutableBytes { target in
                charls_jpegls_decoder_decode_to_buffer(decoder, target.baseAddress!, target.count, 0)
            }
        }
        if status == CHARLS_JPEGLS_ERRC_INVALID_PARAMETER_WIDTH, Int(info.width) != description.columns || Int(info.height) != description.rows {
            throw .mismatch("JPEG-LS frame is \(info.width)x\(info.height)x\(info.component_count), the dataset says \(description.columns)x\(description.rows)x\(description.samplesPerPixel)")
        }
        try check(status, "decode")
        let bytesPerSample = info.bits_per_sample > 8 ? 2 : 1
        if mode == CHARLS_INTERLEAVE_MODE_NONE, description.samplesPerPixel > 1 {
            decoded = NativeSamples.interleave(decoded, planes: description.samplesPerPixel, bytesPerSample: bytesPerSample)
        }
        return NativeSamples.normalized(widened(decoded, bytesPerSample: bytesPerSample, to: description), description)
    }

    /// The decoder's samples in cells of the description's size: 8-bit samples in 16-bit cells get a zero high byte.
    private static func widened(_ samples: [UInt8], bytesPerSample: Int, to description: FrameDescription) -> [UInt8] {
        guard bytesPerSample < description.bytesPerSample else { return samples }
        var cells = [UInt8](repeating: 0, count: samples.count * 2)
        for (i, sample) in samples.enumerated() { cells[2 * i] = sample }
        return cells
    }

    private static func check(_ status: charls_jpegls_errc, _ step: String) throws(CodecError) {
        guard status == CHARLS_JPEGLS_ERRC_SUCCESS else {
            let message = charls_get_error_message(status).map { String(cString: $0) } ?? "error \(status.rawValue)"
            throw .library("JPEG-LS \(step): \(message)")
        }
    }
}
