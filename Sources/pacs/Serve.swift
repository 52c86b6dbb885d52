import ArgumentParser
import Foundation
import Logging
import PacsServer

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the server: the store, its recovery and live policies.")

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        let logger = Logger(label: "strata.serve")
        let policies = try global.loadPolicies()
        let store = try global.openStore(policies: policies, recover: false)
        let recovered = try store.recover()
        logger.info("store open", metadata: ["data": "\(store.folder.path)", "recovered": "\(recovered.count)"])
        let derivation = DerivationService(store: store, policy: { policies.current.compression })
        derivation.start()
        logger.info("policies loaded; edit \(policies.folder.path) or send SIGHUP to reload")
        let watcher = Task { await policies.watch() }
        await waitForTermination()
        watcher.cancel()
        derivation.stop()
        logger.info("stopped")
    }

    /// Returns on SIGTERM or SIGINT.
    private func waitForTermination() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let sources = [SIGTERM, SIGINT].map { signalNumber in
                signal(signalNumber, SIG_IGN)
                return DispatchSource.makeSignalSource(signal: signalNumber)
            }
            let once = OnceFlag()
            for source in sources {
                source.setEventHandler {
                    if once.claim() {
                        sources.forEach { $0.cancel() }
                        continuation.resume()
                    }
                }
                source.resume()
            }
        }
    }
}

/// True exactly once.
final class OnceFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var claimed = false

    func claim() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if claimed { return false }
        claimed = true
        return true
    }
}
