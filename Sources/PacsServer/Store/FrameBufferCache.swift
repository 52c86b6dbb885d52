import NIOCore
import Synchronization

/// The frames served lately, kept in memory up to a byte budget so that a viewer scrolling a series again
/// (or many viewers reading the same study) is answered without a file read: the response goes out from
/// the cached buffer itself. Stored files never change in place, so an entry cannot go stale; when the
/// budget is passed, the least recently served quarter goes.
final class FrameBufferCache: Sendable {
    struct Key: Hashable, Sendable {
        var tier: String
        var path: String
        var offset: Int
        var length: Int
    }

    private struct Entry {
        var buffer: ByteBuffer
        var lastUse: UInt64
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var bytes = 0
        var clock: UInt64 = 0
    }

    let budget: Int
    private let state = Mutex(State())

    init(budget: Int) {
        self.budget = budget
    }

    /// The cached frame, or the one `read` makes, kept for next time (a frame larger than a quarter of the
    /// budget is served but not kept).
    func frame(_ key: Key, read: () throws -> ByteBuffer) rethrows -> ByteBuffer {
        if let hit = state.withLock({ state -> ByteBuffer? in
            state.clock += 1
            state.entries[key]?.lastUse = state.clock
            return state.entries[key]?.buffer
        }) {
            return hit
        }
        let buffer = try read()
        guard buffer.readableBytes <= budget / 4 else { return buffer }
        state.withLock { state in
            state.clock += 1
            if let old = state.entries.updateValue(Entry(buffer: buffer, lastUse: state.clock), forKey: key) {
                state.bytes -= old.buffer.readableBytes
            }
            state.bytes += buffer.readableBytes
            guard state.bytes > budget else { return }
            // Sorting once per eviction round keeps a hit O(1); a round frees a quarter of the budget.
            for (key, entry) in state.entries.sorted(by: { $0.value.lastUse < $1.value.lastUse }) {
                guard state.bytes > budget * 3 / 4 else { break }
                state.entries[key] = nil
                state.bytes -= entry.buffer.readableBytes
            }
        }
        return buffer
    }

    var bytesHeld: Int { state.withLock { $0.bytes } }
}
