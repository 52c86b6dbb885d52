import Foundation
import Glibc
import Synchronization

extension Array where Element: Sendable {
    /// `transform` of every element on `threads` threads at once, results in order.
    func concurrentMap<T: Sendable>(threads: Int, _ transform: @Sendable (Element) -> T) -> [T] {
        let results = Mutex<[Int: T]>([:])
        let next = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: Swift.min(threads, count)) { _ in
            while true {
                let position = next.add(1, ordering: .relaxed).oldValue
                guard position < count else { return }
                let value = transform(self[position])
                results.withLock { $0[position] = value }
            }
        }
        return results.withLock { all in indices.map { all[$0]! } }
    }
}
