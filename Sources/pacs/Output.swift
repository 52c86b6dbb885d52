import Foundation
import Synchronization

/// Writes whole lines to standard output, flushed at once so a reader (or a crash test) sees each
/// result as soon as it is final.
enum Output {
    private static let lock = Mutex(())

    static func line(_ text: String) {
        lock.withLock { _ in
            FileHandle.standardOutput.write(Data((text + "\n").utf8))
        }
    }

    /// Prints a value as pretty, key-sorted JSON (what every `--json` flag gives).
    static func json<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        line(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    static func error(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}
