import ArgumentParser
import CMemory
import DIMSE
import Foundation
import Logging
import NIOCore
import NIOPosix
import PacsServer
import ServiceLifecycle

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the server: the DICOM listener, version derivation and live policies on the store.")

    @OptionGroup var global: GlobalOptions

    @Option(name: .customLong("dicom-port"), help: "DICOM port (default: network.yaml's dicom_port).")
    var dicomPort: Int?

    @Option(name: .customLong("http-port"), help: "HTTP port (default: network.yaml's http_port).")
    var httpPort: Int?

    @Option(help: "Address to listen on.")
    var host = "0.0.0.0"

    func run() async throws {
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        strata_keep_freed_memory()
        let logger = Logger(label: "strata.serve")
        let policies = try global.loadPolicies()
        let store = try global.openStore(policies: policies, recover: false)
        let recovered = try store.recover()
        logger.info("store open", metadata: ["data": "\(store.folder.path)", "recovered": "\(recovered.count)"])

        let gate = AccessGate(policies: policies, index: store.index)
        let events = EventHub(store: store, gate: gate)
        let workers = ProcessInfo.processInfo.activeProcessorCount
        // Derivation's workers run at a lower priority than everything else; on-demand decoding (a retrieval that
        // needs native pixels, a re-sent instance compared with the stored one) has workers of its own.
        let derivationCodecs = CodecWorkerPool(launch: .current, size: workers, niceness: 10)
        let codecs = CodecWorkerPool(launch: .current, size: workers)
        let derivation = DerivationService(store: store, policy: { policies.current.compression }, codecs: derivationCodecs,
                                           onDerived: { events.instanceDerived($0) })
        derivation.start(workers: workers)
        let ingest = try store.ingestService(codecs: codecs, onStored: { derivation.instanceStored() })
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let service = PacsDIMSEService(store: store, ingest: ingest, gate: gate, codecs: codecs, policies: policies, group: group, logger: Logger(label: "strata.dimse")) { uid in
            try? store.index.prioritizeDerivation(sopInstanceUID: uid)
            derivation.wake()
        }
        let network = policies.current.network
        let port = dicomPort ?? network.dicomPort
        let listener = try await DICOMNetwork.listen(host: host, port: port, group: group, negotiator: service.negotiator,
                                                     service: service, logger: Logger(label: "strata.dimse"))
        logger.info("DICOM listening on \(host):\(listener.localAddress?.port ?? port) as \(network.aeTitle)")
        let tiering = TieringService(store: store, policies: policies, logger: Logger(label: "strata.tier"))
        let tieringTask = tiering.start()
        let http = try HTTPService.application(store: store, ingest: ingest, policies: policies, gate: gate, tiering: tiering, events: events, codecs: codecs, host: host,
                                               port: httpPort ?? network.httpPort, logger: Logger(label: "strata.http"))
        let httpGroup = ServiceGroup(configuration: .init(services: [http], logger: Logger(label: "strata.http")))
        let httpServer = Task {
            do {
                try await httpGroup.run()
            } catch {
                // The HTTP side cannot serve (its port taken, a TLS file unreadable): say so and stop, never hang.
                logger.critical("HTTP service failed: \(error)")
                Foundation.exit(1)
            }
        }
        logger.info("policies loaded; edit \(policies.folder.path) or send SIGTERM/SIGHUP")
        let watcher = Task { await policies.watch() }
        await waitForTermination()
        logger.info("stopping: no new associations; finishing the work in hand")
        try? await listener.close()
        // HTTP takes no new requests and finishes those under way (event streams end first); after 10 s it is cut.
        events.close()
        await httpGroup.triggerGracefulShutdown()
        watcher.cancel()
        tieringTask.cancel()
        derivation.stop()
        derivationCodecs.shutdown()
        // Requests already received are answered (their responses follow their durable storage) before the loops stop.
        await service.drain()
        await Self.finish(httpServer, within: .seconds(10))
        codecs.shutdown()
        try? await group.shutdownGracefully()
        logger.info("stopped")
    }

    /// Waits for `task`; one still running after `limit` is cancelled first.
    private static func finish(_ task: Task<Void, Never>, within limit: Duration) async {
        let timer = Task {
            try? await Task.sleep(for: limit)
            task.cancel()
        }
        await task.value
        timer.cancel()
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
