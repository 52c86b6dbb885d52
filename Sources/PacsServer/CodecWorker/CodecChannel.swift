import Foundation
import Glibc

/// One end of the pipe between the server and a codec worker, carrying messages: a JSON header, then files
/// (u32 header length, header, u32 file count, then per file u64 length and bytes; little endian). Every length
/// read is checked against a bound before anything is allocated for it: a worker that went wrong cannot make
/// the server allocate without limit.
struct CodecChannel {
    let descriptor: Int32

    static let maximumHeader = 64 << 20
    static let maximumFiles = 64
    static let maximumFile = 8 << 30

    enum Failure: Error, Equatable {
        /// The other end closed the pipe (the process ended).
        case closed
        /// No message before the deadline.
        case timedOut
        case malformed(String)
        case io(Int32)
    }

    func send<Header: Encodable>(_ header: Header, files: [[UInt8]]) throws(Failure) {
        let json: [UInt8]
        do {
            json = Array(try JSONEncoder().encode(header))
        } catch {
            throw .malformed("header cannot be encoded: \(error)")
        }
        var prefix = Self.little(UInt32(json.count)) + json + Self.little(UInt32(files.count))
        for file in files {
            prefix += Self.little(UInt64(file.count))
            try write(prefix)
            prefix = []
            try write(file)
        }
        try write(prefix)
    }

    /// The next message; waits until `deadline` (forever when nil).
    func receive<Header: Decodable>(_: Header.Type, deadline: ContinuousClock.Instant? = nil) throws(Failure) -> (Header, [[UInt8]]) {
        let headerLength = Int(try number(UInt32.self, deadline))
        guard headerLength <= Self.maximumHeader else { throw .malformed("header of \(headerLength) bytes") }
        let json = try read(headerLength, deadline)
        let header: Header
        do {
            header = try JSONDecoder().decode(Header.self, from: Data(json))
        } catch {
            throw .malformed("header cannot be decoded: \(error)")
        }
        let count = Int(try number(UInt32.self, deadline))
        guard count <= Self.maximumFiles else { throw .malformed("\(count) files") }
        var files: [[UInt8]] = []
        for _ in 0..<count {
            let length = try number(UInt64.self, deadline)
            guard length <= Self.maximumFile else { throw .malformed("a file of \(length) bytes") }
            files.append(try read(Int(length), deadline))
        }
        return (header, files)
    }

    private static func little<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }

    private func number<T: FixedWidthInteger>(_: T.Type, _ deadline: ContinuousClock.Instant?) throws(Failure) -> T {
        let bytes = try read(MemoryLayout<T>.size, deadline)
        return bytes.reversed().reduce(T.zero) { $0 << 8 | T($1) }
    }

    private func write(_ bytes: [UInt8]) throws(Failure) {
        var sent = 0
        while sent < bytes.count {
            let result = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + sent, bytes.count - sent) }
            if result < 0 {
                if errno == EINTR { continue }
                throw errno == EPIPE ? .closed : .io(errno)
            }
            sent += result
        }
    }

    private func read(_ count: Int, _ deadline: ContinuousClock.Instant?) throws(Failure) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var received = 0
        while received < count {
            if let deadline { try wait(until: deadline) }
            let result = bytes.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress! + received, count - received) }
            if result < 0 {
                if errno == EINTR { continue }
                throw .io(errno)
            }
            if result == 0 { throw .closed }
            received += result
        }
        return bytes
    }

    /// Returns when the pipe can be read, or throws when the deadline passes first.
    private func wait(until deadline: ContinuousClock.Instant) throws(Failure) {
        while true {
            let left = ContinuousClock.now.duration(to: deadline)
            guard left > .zero else { throw .timedOut }
            var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
            let ready = poll(&entry, 1, milliseconds)
            if ready > 0 { return }
            if ready < 0, errno != EINTR { throw .io(errno) }
        }
    }
}
