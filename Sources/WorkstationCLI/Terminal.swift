import Foundation
import Workstation

/// What the command line shows: tables and progress.
enum Terminal {
    static var jsonEncoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return encoder
    }

    static func error(_ text: String) {
        FileHandle.standardError.write(Data(("workstation: " + text + "\n").utf8))
    }


    /// `5GB`, `500MB`, `1024`.
    static func bytes(_ text: String) -> Int64? {
        let units: [(String, Int64)] = [("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10), ("B", 1)]
        let trimmed = text.uppercased().trimmingCharacters(in: .whitespaces)
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            return Double(trimmed.dropLast(suffix.count)).map { Int64($0 * Double(factor)) }
        }
        return Int64(trimmed)
    }

    static func table(header: [String], rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }

    /// The pull's progress line (images, level, bytes, rate, ETA), drawn only on a terminal.
    final class Progress: @unchecked Sendable {
        private let enabled = isatty(STDERR_FILENO) == 1
        private let lock = NSLock()
        private var last = Date.distantPast

        func draw(_ progress: PullProgress) {
            guard enabled else { return }
            let now = Date()
            let due = lock.withLock { () -> Bool in
                guard now.timeIntervalSince(last) > 0.1 || progress.done == progress.frames else { return false }
                last = now
                return true
            }
            guard due else { return }
            let rate = Double(progress.bytes) / max(progress.seconds, 0.001)
            let levelsLeft = Double(progress.finestLevel - progress.level) + Double(progress.frames - progress.done) / Double(max(progress.frames, 1))
            let eta = progress.done > 0 ? progress.seconds / (Double(progress.level) + Double(progress.done) / Double(progress.frames)) * levelsLeft : 0
            let text = String(format: "\rlevel %d/%d  images %d/%d  %.1f MB  %.2f MB/s  ETA %.0f s   ", progress.level, progress.finestLevel,
                              progress.done, progress.frames, Double(progress.bytes) / 1e6, rate / 1e6, eta)
            FileHandle.standardError.write(Data(text.utf8))
        }

        func finish() {
            if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
        }
    }
}
