import AsyncHTTPClient
import Foundation
import NIOHTTP1

/// A running total of bytes, read from any thread.
public final class ByteCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var total = 0

    public func add(_ count: Int) { lock.withLock { total += count } }
    public var value: Int { lock.withLock { total } }
}
