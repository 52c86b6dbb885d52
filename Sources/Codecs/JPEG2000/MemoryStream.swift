import COpenJPEG

/// An in-memory OpenJPEG stream: reads from a byte array or writes into a growing one (no temp files).
final class MemoryStream {
    var bytes: [UInt8]
    var position = 0
    /// How far a position may go: the end of the bytes when reading.
    private var limit = Int.max

    init(bytes: [UInt8] = []) {
        self.bytes = bytes
    }

    /// An OpenJPEG stream over this buffer; the buffer is retained until the stream is destroyed.
    func makeStream(reading: Bool) -> UnsafeMutablePointer<opj_stream_t?>? {
        guard let stream = opj_stream_create(1 << 20, reading ? 1 : 0) else { return nil }
        let box = Unmanaged.passRetained(self).toOpaque()
        opj_stream_set_user_data(stream, box) { Unmanaged<MemoryStream>.fromOpaque($0!).release() }
        if reading {
            limit = bytes.count
            opj_stream_set_user_data_length(stream, UInt64(bytes.count))
            opj_stream_set_read_function(stream) { buffer, count, user in
                let this = Unmanaged<MemoryStream>.fromOpaque(user!).takeUnretainedValue()
                let available = this.bytes.count - this.position
                // (OPJ_SIZE_T)-1 marks the end. Swift imports size_t as Int, so that is -1, not Int.max: OpenJPEG
                // took Int.max for a count of bytes read and copied out of bounds (a JP2 read to its end crashed).
                guard available > 0 else { return -1 }
                let n = min(count, available)
                this.bytes.withUnsafeBytes { source in
                    buffer!.copyMemory(from: source.baseAddress! + this.position, byteCount: n)
                }
                this.position += n
                return n
            }
        } else {
            opj_stream_set_write_function(stream) { buffer, count, user in
                let this = Unmanaged<MemoryStream>.fromOpaque(user!).takeUnretainedValue()
                let end = this.position + count
                if end > this.bytes.count { this.bytes.append(contentsOf: repeatElement(0, count: end - this.bytes.count)) }
                this.bytes.withUnsafeMutableBytes { target in
                    (target.baseAddress! + this.position).copyMemory(from: buffer!, byteCount: count)
                }
                this.position = end
                return count
            }
        }
        // A read never moves past the end: OpenJPEG trusts these positions (a tile-part length that points
        // past the end would otherwise leave its byte count below its offset, and it reads out of bounds).
        opj_stream_set_skip_function(stream) { offset, user in
            let this = Unmanaged<MemoryStream>.fromOpaque(user!).takeUnretainedValue()
            let target = this.position + Int(offset)
            guard target >= 0, target <= this.limit else { return -1 }
            this.position = target
            return offset
        }
        opj_stream_set_seek_function(stream) { offset, user in
            let this = Unmanaged<MemoryStream>.fromOpaque(user!).takeUnretainedValue()
            guard offset >= 0, Int(offset) <= this.limit else { return 0 }
            this.position = Int(offset)
            return 1
        }
        return stream
    }
}
