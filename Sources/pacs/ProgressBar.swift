import Foundation
import Synchronization

/// A progress line on standard error (counts, rate, MB/s), drawn only when it is a terminal.
final class ProgressBar: Sendable {
    private let total: Int
    private let unit: String
    private let start = Date()
    private let enabled = isatty(STDERR_FILENO) == 1
    private let lastDraw = Mutex(Date.distantPast)

    init(total: Int, unit: String = "files") {
        self.total = total
        self.unit = unit
    }

    func update(done: Int, bytes: Int) {
        guard enabled else { return }
        let now = Date()
        let due = lastDraw.withLock { last -> Bool in
            guard now.timeIntervalSince(last) > 0.1 || done == total else { return false }
            last = now
            return true
        }
        guard due else { return }
        let seconds = max(now.timeIntervalSince(start), 0.001)
        let width = 30
        let filled = total == 0 ? width : width * done / total
        let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
        var text = String(format: "\r[%@] %d/%d  %.1f %@/s", bar, done, total, Double(done) / seconds, unit)
        if bytes > 0 { text += String(format: "  %.1f MB/s", Double(bytes) / seconds / 1_048_576) }
        text += " "
        FileHandle.standardError.write(Data(text.utf8))
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
