import Foundation
import Synchronization

/// The log file, appended to line by line from any request.
final class AccessLogFile: Sendable {
    private let handle: Mutex<FileHandle?>

    init(url: URL) {
        if !FileManager.default.fileExists(atPath: url.path) { _ = FileManager.default.createFile(atPath: url.path, contents: nil) }
        let file = try? FileHandle(forWritingTo: url)
        _ = try? file?.seekToEnd()
        handle = Mutex(file)
    }

    func append(_ line: Data) {
        handle.withLock { $0?.write(line) }
    }
}
