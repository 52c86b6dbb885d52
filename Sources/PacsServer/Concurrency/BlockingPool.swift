import NIOPosix
import ServiceLifecycle

/// The threads that run blocking work (fsync, file reads, index queries, waits on codec workers) off the event loops
/// and the cooperative thread pool. One of the server's services: its threads are there from the start, and they are
/// shut down last, once every other service has finished (it is the first in the group).
public final class BlockingPool: Service, Sendable {
    private let pool: NIOThreadPool

    public init(threads: Int = 8) {
        pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try await pool.shutdownGracefully()
    }

    /// Runs `body` on one of the pool's threads.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await pool.runIfActive(body)
    }
}
