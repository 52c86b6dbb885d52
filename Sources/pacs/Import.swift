import ArgumentParser
import CMemory
import Foundation
import PacsServer

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Import DICOM files and folders (recursively) into the store.")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Print a line for every file, not only failures.")
    var verbose = false

    @Flag(name: .customLong("no-derive"), help: "Only store and index; leave the versions to `pacs serve` or `pacs derive`.")
    var noDerive = false

    @Argument(help: "Files and folders to import.")
    var paths: [String]

    func run() throws {
        strata_keep_freed_memory()
        let policies = try global.loadPolicies()
        let store = try global.openStore(policies: policies)
        let (files, problems) = Importer.files(in: paths)
        for case let .failed(path, reason) in problems { Output.line("failed: \(path): \(reason)") }
        let progress = ProgressBar(total: files.count)
        let verbose = self.verbose
        // Codec work (a re-sent instance compared with the stored one, then the versions) runs in worker processes.
        let codecs = CodecWorkerPool(launch: .current, size: ProcessInfo.processInfo.activeProcessorCount)
        defer { codecs.shutdown() }
        var totals = Importer(service: try store.ingestService(codecs: codecs)).run(files) { event, totals in
            switch event {
            case let .imported(path, uid, supplied):
                if verbose { Output.line("imported: \(path) \(uid)") }
                if !supplied.isEmpty { Output.line("coerced: \(path): the file has no \(supplied.joined(separator: " or ")); supplied and recorded") }
            case let .duplicate(path, uid): if verbose { Output.line("duplicate: \(path) \(uid)") }
            case let .failed(path, reason): Output.line("failed: \(path): \(reason)")
            }
            progress.update(done: totals.imported + totals.duplicate + totals.failed, bytes: totals.bytes)
        }
        progress.finish()
        totals.failed += problems.count
        Output.line(totals.summary)
        if !noDerive { try Derive.drain(store, policies, codecs: codecs) }
        if totals.failed > 0 { throw ExitCode(1) }
    }
}
