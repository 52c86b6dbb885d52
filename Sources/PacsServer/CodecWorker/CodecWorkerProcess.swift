import CProcess
import Foundation
import Glibc
import Synchronization

/// One running codec worker: a child process (`pacs codec-worker`) that answers requests on its standard output.
/// Used by one caller at a time (the pool hands it out).
final class CodecWorkerProcess: @unchecked Sendable {
    let pid: pid_t
    private let requests: CodecChannel
    private let replies: CodecChannel
    private var pipesOpen = true
    /// Set once the process is reaped: its pid may then name another process, which must never be signalled.
    private let reaped = Mutex(false)

    init(executable: String, arguments: [String], environment: [String], niceness: Int32) throws(CodecWorkerError) {
        var toChild: Int32 = -1, fromChild: Int32 = -1
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let env = environment.map { strdup($0) } + [nil]
        defer { (argv + env).forEach { free($0) } }
        let pid = strata_spawn(executable, argv, env, &toChild, &fromChild)
        guard pid > 0 else { throw .unavailable("cannot start \(executable): \(String(cString: strerror(errno)))") }
        if niceness != 0 { _ = strata_renice(pid, niceness) }
        self.pid = pid
        requests = CodecChannel(descriptor: toChild)
        replies = CodecChannel(descriptor: fromChild)
    }

    /// Sends a request and waits for its reply. A worker that dies or runs past `timeout` is gone afterwards
    /// (the caller drops it); its exit is reaped here.
    func exchange(_ request: CodecRequest, _ files: [[UInt8]], timeout: Duration) throws(CodecWorkerError) -> (CodecReply, [[UInt8]]) {
        let deadline = ContinuousClock.now + timeout
        do {
            try requests.send(request, files: files)
            return try replies.receive(CodecReply.self, deadline: deadline)
        } catch .timedOut {
            kill(pid, SIGKILL)
            _ = reap()
            throw .timedOut(seconds: Double(timeout.components.seconds))
        } catch .closed {
            throw .crashed(reap())
        } catch {
            kill(pid, SIGKILL)
            throw .crashed("\(error); then stopped: \(reap())")
        }
    }

    /// Ends the worker: its input closes, so it returns; one that does not within a second is killed.
    func stop() {
        closePipes()
        for _ in 0..<100 {
            var status: Int32 = 0
            if reaped.withLock({ reaped in
                reaped = waitpid(pid, &status, WNOHANG) == pid
                return reaped
            }) { return }
            usleep(10_000)
        }
        kill(pid, SIGKILL)
        _ = reap()
    }

    private func closePipes() {
        guard pipesOpen else { return }
        pipesOpen = false
        close(requests.descriptor)
        close(replies.descriptor)
    }

    /// Kills the process (from another thread than its caller's: the server is stopping), unless it is gone already.
    func terminate() {
        reaped.withLock { if !$0 { kill(pid, SIGKILL) } }
    }

    /// Waits for the process to end and says how it did; closes the pipes.
    private func reap() -> String {
        closePipes()
        var status: Int32 = 0
        reaped.withLock { reaped in
            while waitpid(pid, &status, 0) < 0, errno == EINTR {}
            reaped = true
        }
        let signal = status & 0x7F
        if signal != 0 { return "killed by signal \(signal), \(String(cString: strsignal(signal)))" }
        return "exited with status \((status >> 8) & 0xFF)"
    }
}
