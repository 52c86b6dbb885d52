import Foundation
import Glibc
import ServiceLifecycle
import Synchronization

/// Worker processes for codec work on received images, started on demand up to `size` and reused: a codec that
/// crashes or hangs on one image loses that work (`CodecWorkerError`) and that process, never the server. In the
/// server it is one of the services, stopped (its workers with it) once the services that use it have stopped.
public final class CodecWorkerPool: CodecRunner, Service {
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
        /// The workers handed out now, by process id.
        var busy: [pid_t: CodecWorkerProcess] = [:]
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
            discard(worker)
            throw error
        }
    }

    /// Waits for the server to stop, then stops the workers.
    public func run() async throws {
        try? await gracefulShutdown()
        shutdown()
    }

    /// Stops every worker (a busy one's caller gets an error at once) and refuses new work.
    public func shutdown() {
        let (idle, busy) = available.withLock {
            state.withLock { state in
                state.stopped = true
                defer { state.idle = [] }
                return (state.idle, state.busy)
            }
        }
        available.broadcast()
        idle.forEach { $0.stop() }
        busy.values.forEach { $0.terminate() }
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
            case let .reuse(worker):
                state.withLock { $0.busy[worker.pid] = worker }
                return worker
            case .stopped: throw .unavailable("the server is stopping")
            case .wait: available.wait()
            case .start:
                do {
                    let worker = try CodecWorkerProcess(executable: launch.executable, arguments: launch.arguments,
                                                        environment: launch.environment, niceness: niceness)
                    state.withLock { $0.busy[worker.pid] = worker }
                    return worker
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
                state.busy[worker.pid] = nil
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

    private func discard(_ worker: CodecWorkerProcess) {
        available.withLock {
            state.withLock { state in
                state.busy[worker.pid] = nil
                state.running -= 1
            }
        }
        available.signal()
    }
}
