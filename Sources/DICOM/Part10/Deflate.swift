import CZlib

/// Raw deflate (RFC 1951) as the Deflated Explicit VR Little Endian transfer syntax uses it (PS3.5 A.5), and
/// gzip (RFC 1952) as HTTP's Content-Encoding uses it.
public enum Deflate {
    /// Inflated data larger than this is refused rather than allocated.
    static let maximumInflatedSize = 4 << 30

    static func inflate(_ input: ArraySlice<UInt8>) throws -> [UInt8] {
        do {
            return try inflate(input, windowBits: -MAX_WBITS)
        } catch {
            // A few writers wrap the stream in a zlib header; accept that too.
            if let wrapped = try? inflate(input, windowBits: MAX_WBITS) { return wrapped }
            throw error
        }
    }

    private static func inflate(_ input: ArraySlice<UInt8>, windowBits: Int32) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DICOMError.deflate(reason: "zlib could not start")
        }
        defer { inflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: max(64 << 10, input.count * 4))
        var status: Int32 = Z_OK
        try input.withContiguousStorageIfAvailable { source in
            stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
            stream.avail_in = UInt32(source.count)
            while status == Z_OK {
                if Int(stream.total_out) == output.count {
                    guard output.count < maximumInflatedSize else { throw DICOMError.deflate(reason: "inflates past \(maximumInflatedSize) bytes") }
                    output.append(contentsOf: repeatElement(0, count: output.count))
                }
                let produced = Int(stream.total_out)
                status = output.withUnsafeMutableBufferPointer { buffer in
                    stream.next_out = buffer.baseAddress! + produced
                    stream.avail_out = UInt32(buffer.count - produced)
                    return CZlib.inflate(&stream, Z_NO_FLUSH)
                }
                if status == Z_BUF_ERROR, stream.avail_in == 0 { break }  // stream ends without a final block
                if status == Z_BUF_ERROR { status = Z_OK }
            }
        }
        guard status == Z_STREAM_END || status == Z_BUF_ERROR else {
            throw DICOMError.deflate(reason: stream.msg.map { String(cString: $0) } ?? String(cString: zError(status)))
        }
        output.removeSubrange(Int(stream.total_out)...)
        return output
    }

    /// A gzip member holding `input`.
    public static func gzip(_ input: [UInt8]) throws -> [UInt8] {
        try deflate(input, windowBits: MAX_WBITS + 16)
    }

    /// The data of a gzip member.
    public static func gunzip(_ input: [UInt8]) throws -> [UInt8] {
        try inflate(input[...], windowBits: MAX_WBITS + 16)
    }

    static func deflate(_ input: [UInt8], windowBits: Int32 = -MAX_WBITS) throws -> [UInt8] {
        var stream = z_stream()
        guard deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY,
                            ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DICOMError.deflate(reason: "zlib could not start")
        }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))))
        let status = input.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
                stream.avail_in = UInt32(source.count)
                stream.next_out = target.baseAddress
                stream.avail_out = UInt32(target.count)
                return CZlib.deflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { throw DICOMError.deflate(reason: "deflate failed (\(status))") }
        output.removeSubrange(Int(stream.total_out)...)
        return output
    }
}
