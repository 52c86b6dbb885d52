import Foundation
import ServiceLifecycle

/// The tiering inside the server, one of its services: passes of the mover on the policy's schedule (and when an
/// admin asks), and recalls of archived files as they are read. Its stop stops the tiering service: every pass (the
/// loop's, or one an admin asked for over HTTP) and recall ends after the batch it is copying.
public final class TieringLoop: Service, Sendable {
    let tiering: TieringService
    /// Runs passes and recalls, which block on disk for long, off the cooperative threads.
    let blocking: BlockingPool
    private let recallQueue = RecallQueue()
    /// What wakes the loop: an admin asking for a pass, an archived file read, the next pass's time.
    private enum Wake { case pass, recall, time }
    private let wakes = AsyncStream.makeStream(of: Wake.self, bufferingPolicy: .bufferingNewest(16))

    public init(tiering: TieringService, blocking: BlockingPool) {
        self.tiering = tiering
        self.blocking = blocking
    }

    public func run() async {
        tiering.store.archiveReads.listen { [recallQueue, wakes] path in
            if recallQueue.add(path) { wakes.continuation.yield(.recall) }
        }
        let (tiering, recallQueue) = (self.tiering, self.recallQueue)
        var nextPass = Date()
        var wakeUps = wakes.stream.makeAsyncIterator()
        await withGracefulShutdownHandler {
            // Wake-ups queued before a stop are not served.
            while !tiering.isStopping {
                if Date() >= nextPass {
                    _ = try? await blocking.run { tiering.runPass() }
                    nextPass = Date().addingTimeInterval(tiering.policy.runEvery)
                }
                _ = try? await blocking.run { tiering.recall(read: recallQueue.take()) }
                let delay = max(0, min(nextPass.timeIntervalSinceNow, 60))
                let timer = Task { [wakes] in
                    // A cancelled timer (the loop woke for something else) must not wake it again.
                    if (try? await Task.sleep(for: .seconds(delay))) != nil { wakes.continuation.yield(.time) }
                }
                let wake = await wakeUps.next()
                timer.cancel()
                switch wake {
                case nil: return
                case .pass?: nextPass = Date()
                case .recall?, .time?: break
                }
            }
        } onGracefulShutdown: { [tiering, wakes] in
            tiering.stop()
            wakes.continuation.finish()
        }
    }

    /// Asks the loop for a pass now (an admin's request).
    public func runSoon() {
        wakes.continuation.yield(.pass)
    }
}
