import NIOCore
import Testing
@testable import PacsServer

@Suite("Frames served lately stay in memory, within a byte budget")
struct FrameBufferCacheTests {
    func key(_ n: Int) -> FrameBufferCache.Key {
        FrameBufferCache.Key(tier: "fast", path: "ab/cd/\(n).original.dcm", offset: 1000, length: 100)
    }

    func frame(_ n: Int) -> ByteBuffer {
        ByteBuffer(bytes: [UInt8](repeating: UInt8(n), count: 100))
    }

    @Test("a frame read once is served again without reading the file")
    func hit() throws {
        let cache = FrameBufferCache(budget: 1000)
        var reads = 0
        for _ in 0..<3 {
            let served = cache.frame(key(1)) { reads += 1; return frame(1) }
            #expect(served == frame(1))
        }
        #expect(reads == 1)
    }

    @Test("past the budget the least recently served go first, and what is kept stays within the budget")
    func eviction() throws {
        let cache = FrameBufferCache(budget: 1000)
        for n in 0..<10 { _ = cache.frame(key(n)) { frame(n) } }
        #expect(cache.bytesHeld == 1000)
        _ = cache.frame(key(0)) { Issue.record("frame 0 was held"); return frame(0) }  // 0 is now the most recent
        _ = cache.frame(key(10)) { frame(10) }  // over budget: a quarter goes, oldest use first
        #expect(cache.bytesHeld <= 750)
        var reads: [Int] = []
        for n in [0, 10, 1, 2, 3] { _ = cache.frame(key(n)) { reads.append(n); return frame(n) } }
        #expect(reads == [1, 2, 3], "frames 1-3 were the least recently served; 0 and 10 stayed")
    }

    @Test("a frame larger than a quarter of the budget is served, not kept")
    func large() throws {
        let cache = FrameBufferCache(budget: 200)
        let big = ByteBuffer(bytes: [UInt8](repeating: 7, count: 100))
        #expect(cache.frame(key(1)) { big } == big)
        #expect(cache.bytesHeld == 0)
    }
}
