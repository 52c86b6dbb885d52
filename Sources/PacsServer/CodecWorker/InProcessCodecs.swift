/// Codec work in the calling process: the same work as a worker's, without its isolation (a crash of a codec
/// ends the caller). For tests of what the work does, and tools that read only files they made.
public struct InProcessCodecs: CodecRunner {
    public init() {}

    public func perform(_ request: CodecRequest, _ files: [[UInt8]], timeout: Duration) throws -> (CodecReply, [[UInt8]]) {
        CodecWork.perform(request, files)
    }

    /// Work in the caller's own process cannot be ended from outside; there is nothing to stop.
    public func shutdown() {}
}
