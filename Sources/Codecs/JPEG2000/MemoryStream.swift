import COpenJPEG

/// An in-memory OpenJPEG stream: reads from a byte array or writes into a growing one (no temp files).
final class MemoryStream {
    var bytes: [UInt8]
    var position = 0

    init(bytes: [UInt8] = []) {
        self.bytes = bytes
    }

    /// An OpenJPEG stream over this buffer; the buffer is retained until the stream is destroyed.
    func makeStream(reading: Bool) -> UnsafeMutablePointer<opj_stream_t?>? {
        guard let stream = opj_stream_create(1 << 20, reading ? 1 : 0) else { return nil }
        let box = Unmanaged.passRetained(self).toOpaque()
        opj_stream_set_user_data(stream, box) { Unmanaged<MemoryStream>.fromOpaque($0!).release() }
        if reading {
            opj_stream_set_user_data_length(stream, UInt64(bytes.count))
            opj_stream_set_read_function(stream) { buffer, count, user in
                let this = Unmanaged<MemoryStream>.fromOpaque(user!).takeUnretainedValue()
                let available = this.bytes.count - this.position
                guard available > 0 else { return OPJ_SIZE_T.max }  // (OPJ_SIZE_T)-1 marks the end
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
        opj_stream_set_skip_function(stream) { offset, user in
            let this = Unmanaged<MemoryStream>.fromOpaque(user!).takeUnretainedValue()
            let target = this.position + Int(offset)
            guard target >= 0 else { return -1 }
            this.position = target
            return offset
        }
        opj_stream_set_seek_function(stream) { offset, user in
            let this = Unmanaged<MemoryStream>.fromOpaque(user!).takeUnretainedValue()
            guard offset >= 0 else { return 0 }
            this.position = Int(offset)
            return 1
        }
        return stream
    }
}
