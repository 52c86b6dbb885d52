import Foundation
import Synchronization
import Tiering

/// `pacs import`: ingests files and folders (recursively) on several threads, reporting each result.
public struct Importer: Sendable {
    public enum Event: Sendable {
        /// Stored; `supplied` names the identifiers it lacked and was given (see `IdentifierCoercion`).
        case imported(path: String, sopInstanceUID: String, supplied: [String])
        case duplicate(path: String, sopInstanceUID: String)
        case failed(path: String, reason: String)
    }

    public struct Totals: Sendable, Equatable {
        public var imported = 0, duplicate = 0, failed = 0, bytes = 0
        public var summary: String { "imported \(imported), duplicate \(duplicate), failed \(failed)" }
    }

    let service: IngestService
    let workers: Int

    public init(service: IngestService, workers: Int = max(2, ProcessInfo.processInfo.activeProcessorCount * 2)) {
        self.service = service
        self.workers = workers
    }

    /// Every regular file under the given paths, in a stable order; hidden files and folders are skipped.
    public static func files(in paths: [String]) -> (files: [String], problems: [Event]) {
        var files: [String] = []
        var problems: [Event] = []
        for path in paths {
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
                problems.append(.failed(path: path, reason: "no such file or folder"))
                continue
            }
            guard isFolder.boolValue else {
                files.append(path)
                continue
            }
            let base = URL(fileURLWithPath: path)
            let walker = FileManager.default.enumerator(at: base, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles])
            var found: [String] = []
            while let url = walker?.nextObject() as? URL {
                if (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true {
                    found.append(path.hasSuffix("/") ? path + url.path.dropFirst(base.path.count + 1) : path + url.path.dropFirst(base.path.count))
                }
            }
            files += found.sorted()
        }
        return (files, problems)
    }

    /// Imports the files; `report` is called (serially) once per file, after the outcome is final.
    public func run(_ files: [String], report: @Sendable (Event, Totals) -> Void) -> Totals {
        let next = Atomic<Int>(0)
        let totals = Mutex(Totals())
        DispatchQueue.concurrentPerform(iterations: min(workers, max(1, files.count))) { _ in
            while true {
                let position = next.add(1, ordering: .relaxed).oldValue
                guard position < files.count else { return }
                let path = files[position]
                let event: Event
                var size = 0
                do {
                    let bytes = try DurableFile.read(URL(fileURLWithPath: path))
                    size = bytes.count
                    switch try service.ingest(fileBytes: bytes) {
                    case let .stored(uid): event = .imported(path: path, sopInstanceUID: uid, supplied: [])
                    case let .coerced(uid, supplied): event = .imported(path: path, sopInstanceUID: uid, supplied: supplied)
                    case let .duplicate(uid): event = .duplicate(path: path, sopInstanceUID: uid)
                    }
                } catch {
                    event = .failed(path: path, reason: "\(error)")
                }
                totals.withLock { totals in
                    switch event {
                    case .imported: totals.imported += 1
                    case .duplicate: totals.duplicate += 1
                    case .failed: totals.failed += 1
                    }
                    totals.bytes += size
                    report(event, totals)
                }
            }
        }
        return totals.withLock { $0 }
    }
}
