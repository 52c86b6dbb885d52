import Foundation
import Glibc
import Synchronization

/// Worker processes for codec work on received images, started on demand up to `size` and reused: a codec that
/// crashes or hangs on one image loses that work (`CodecWorkerError`) and that process, never the server.
public final class CodecWorkerPool: CodecRunner {
    /// How the pool starts a worker: the `pacs` executable with `codec-worker`.
    public struct Launch: Sendable {
        public var executable: String
        public var arguments: [String]
        /// Added to the server's environment.
        public var environment: [String]

        public init(executable: String, arguments: [String] = ["codec-worker"], environment: [String] = []) {
            self.executable = executable
            self.arguments = arguments
            self.environment = environment
        }

        /// This very executable, started with `codec-worker`.
        public static var current: Launch {
            let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
            return Launch(executable: path)
        }
    }

    private struct State {
        var idle: [CodecWorkerProcess] = []
        var running = 0
        var stopped = false
    }

    private let launch: Launch
    private let size: Int
    private let niceness: Int32
    private let state = Mutex(State())
    private let available = NSCondition()

    /// `niceness` lowers the workers' CPU priority (derivation leaves the cores to ingest and retrieval).
    public init(launch: Launch, size: Int, niceness: Int32 = 0) {
        // A worker that dies leaves a closed pipe: writing to it must fail, not end the server with SIGPIPE.
        signal(SIGPIPE, SIG_IGN)
        self.launch = Launch(executable: launch.executable, arguments: launch.arguments,
                             environment: launch.environment + ["SWIFT_BACKTRACE=enable=no"])
        self.size = max(1, size)
        self.niceness = niceness
    }

    public func perform(_ request: CodecRequest, _ files: [[UInt8]], timeout: Duration) throws -> (CodecReply, [[UInt8]]) {
        let worker = try checkOut()
        do {
            let answer = try worker.exchange(request, files, timeout: timeout)
            checkIn(worker)
            return answer
        } catch {
            // A worker that failed is gone; its place is free for a new one.
            discard()
            throw error
        }
    }

    /// Stops every idle worker and refuses new work; workers busy now stop when their caller returns them.
    public func shutdown() {
        let idle = available.withLock {
            state.withLock { state in
                state.stopped = true
                defer { state.idle = [] }
                return state.idle
            }
        }
        available.broadcast()
        idle.forEach { $0.stop() }
    }

    private func checkOut() throws(CodecWorkerError) -> CodecWorkerProcess {
        available.lock()
        defer { available.unlock() }
        while true {
            enum Next { case reuse(CodecWorkerProcess), start, wait, stopped }
            let next: Next = state.withLock { state in
                if state.stopped { return .stopped }
                if let worker = state.idle.popLast() { return .reuse(worker) }
                if state.running < size {
                    state.running += 1
                    return .start
                }
                return .wait
            }
            switch next {
            case let .reuse(worker): return worker
            case .stopped: throw .unavailable("the server is stopping")
            case .wait: available.wait()
            case .start:
                do {
                    return try CodecWorkerProcess(executable: launch.executable, arguments: launch.arguments,
                                                  environment: launch.environment, niceness: niceness)
                } catch {
                    state.withLock { $0.running -= 1 }
                    throw error
                }
            }
        }
    }

    private func checkIn(_ worker: CodecWorkerProcess) {
        let keep = available.withLock {
            state.withLock { state in
                guard !state.stopped else {
                    state.running -= 1
                    return false
                }
                state.idle.append(worker)
                return true
            }
        }
        available.signal()
        if !keep { worker.stop() }
    }

    private func discard() {
        available.withLock { state.withLock { $0.running -= 1 } }
        available.signal()
    }
}
