import Foundation
import Dispatch
import Synchronization
import Testing
@testable import PacsServer

@Suite("Ingest locks: one writer per SOP Instance UID, none waiting for others")
struct KeyLocksTests {
    @Test("holders of different keys run side by side, however many each holds (two STOW-RS bodies of 30 instances)")
    func disjointKeysDoNotWait() {
        let first = (0..<30).map { "1.2.3.\($0)" }, second = (0..<30).map { "1.2.4.\($0)" }
        let locks = KeyLocks()
        let firstInside = DispatchSemaphore(value: 0), secondDone = DispatchSemaphore(value: 0)
        let sawSecond = Atomic<Bool>(false)
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            locks.withLocks(for: first) {
                firstInside.signal()
                // The second holder finishes while the first still holds its keys.
                sawSecond.store(secondDone.wait(timeout: .now() + 5) == .success, ordering: .relaxed)
            }
        }
        firstInside.wait()
        locks.withLocks(for: second) { secondDone.signal() }
        group.wait()
        let finishedAlongside = sawSecond.load(ordering: .relaxed)
        #expect(finishedAlongside)
    }

    @Test("a holder of a shared key waits until the first lets go")
    func sharedKeyWaits() {
        let locks = KeyLocks()
        let firstInside = DispatchSemaphore(value: 0)
        let firstFinished = Atomic<Bool>(false)
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            locks.withLocks(for: ["1.2.3", "1.2.4"]) {
                firstInside.signal()
                Thread.sleep(forTimeInterval: 0.1)
                firstFinished.store(true, ordering: .relaxed)
            }
        }
        firstInside.wait()
        var finishedWhenEntering = false
        locks.withLocks(for: ["1.2.4", "1.2.9"]) { finishedWhenEntering = firstFinished.load(ordering: .relaxed) }
        group.wait()
        #expect(finishedWhenEntering)
    }
}
