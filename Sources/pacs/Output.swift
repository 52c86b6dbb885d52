import Foundation
import PacsServer
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

    /// Prints a value as pretty JSON in the one convention of Strata's JSON (snake_case keys, sorted: `StrataJSON`).
    static func json<T: Encodable>(_ value: T) throws {
        let encoder = StrataJSON.encoder
        encoder.outputFormatting.insert(.prettyPrinted)
        line(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    static func error(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}
