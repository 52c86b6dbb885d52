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

        let blocking = BlockingPool()
        let gate = AccessGate(policies: policies, index: store.index)
        let events = EventHub(store: store, gate: gate, blocking: blocking)
        let workers = ProcessInfo.processInfo.activeProcessorCount
        // Derivation's workers run at a lower priority than everything else; on-demand decoding (a retrieval that
        // needs native pixels, a re-sent instance compared with the stored one) has workers of its own.
        let derivationCodecs = CodecWorkerPool(launch: .current, size: workers, niceness: 10)
        let codecs = CodecWorkerPool(launch: .current, size: workers)
        let derivation = DerivationService(store: store, policy: { policies.current.compression }, codecs: derivationCodecs, workers: workers,
                                           onDerived: { events.instanceDerived($0) })
        let ingest = try store.ingestService(codecs: codecs, onStored: { derivation.instanceStored() })
        let eventLoops = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let dimse = PacsDIMSEService(store: store, ingest: ingest, gate: gate, codecs: codecs, blocking: blocking, policies: policies,
                                     group: eventLoops, logger: Logger(label: "strata.dimse")) { uid in
            try? store.index.prioritizeDerivation(sopInstanceUID: uid)
            derivation.wake()
        }
        let network = policies.current.network
        let dicom = try await DICOMListener.bind(service: dimse, host: host, port: dicomPort ?? network.dicomPort, logger: Logger(label: "strata.dimse"))
        let tiering = TieringService(store: store, policies: policies, logger: Logger(label: "strata.tier"))
        let tieringLoop = TieringLoop(tiering: tiering, blocking: blocking)
        let http = try HTTPService.application(store: store, ingest: ingest, policies: policies, gate: gate, tiering: tiering, tieringLoop: tieringLoop,
                                               events: events, codecs: codecs, blocking: blocking, host: host, port: httpPort ?? network.httpPort,
                                               logger: Logger(label: "strata.http"))
        // One lifecycle for every long-running part. SIGTERM or SIGINT stops them in the reverse of this order: tiering
        // first (every pass and recall, an admin's included, ends after the batch in hand), the DICOM listener (no
        // new association; the requests in hand answered, up to 5 s), event streams, HTTP (requests in hand
        // finished), derivation (the jobs in hand finished within 5 s or put back), the policy watcher, the codec
        // workers, and the blocking threads last.
        var configuration = ServiceGroupConfiguration(
            services: [blocking, codecs, derivationCodecs, PolicyWatcher(policies: policies, logger: Logger(label: "strata.policies")),
                       derivation, http, events, dicom, tieringLoop],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        // A stop is bounded whatever the peers do (a client reading slowly, an association that never ends): after
        // 10 s what still runs is cancelled. (A service still running 4 s later makes swift-service-lifecycle end the
        // process: a bug of ours, not a peer's.)
        configuration.maximumGracefulShutdownDuration = .seconds(10)
        configuration.maximumCancellationDuration = .seconds(4)
        let services = ServiceGroup(configuration: configuration)
        logger.info("policies loaded; edit \(policies.folder.path) or send SIGTERM/SIGHUP")
        try await services.run()
        try? await eventLoops.shutdownGracefully()
        logger.info("stopped")
    }
}
