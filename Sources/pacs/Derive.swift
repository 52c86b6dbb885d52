import ArgumentParser
import Foundation
import PacsServer

struct Derive: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Build the versions still missing (after a policy change, a failure or an import with --no-derive).")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Queue every instance again (only missing versions are made).") var all = false
    @Option(help: "Queue the instances of this study again.") var study: [String] = []

    func run() throws {
        let policies = try global.loadPolicies()
        let store = try global.openStore(policies: policies)
        if all || !study.isEmpty {
            var query = IndexQuery()
            query.studyInstanceUIDs = study
            let queued = try store.index.requeueDerivations(matching: query, now: Date().timeIntervalSince1970)
            Output.line("queued \(queued) instances")
        }
        let codecs = CodecWorkerPool(launch: .current, size: ProcessInfo.processInfo.activeProcessorCount)
        defer { codecs.shutdown() }
        try Self.drain(store, policies, codecs: codecs, quietWhenIdle: false)
    }

    /// Works the queue to the end with every core, with a progress line on a terminal.
    static func drain(_ store: DataStore, _ policies: PolicyStore, codecs: CodecWorkerPool, quietWhenIdle: Bool = true) throws {
        let counts = try store.index.derivationCounts()
        let total = counts.pending + counts.running
        if total == 0, quietWhenIdle { return }
        let progress = ProgressBar(total: total, unit: "images")
        let done = Counter()
        try DerivationService(store: store, policy: { policies.current.compression }, codecs: codecs).drain {
            progress.update(done: done.increment(), bytes: 0)
        }
        progress.finish()
        let after = try store.index.derivationCounts()
        Output.line("derived versions of \(done.value) instances, \(after.pending) still queued")
    }
}
