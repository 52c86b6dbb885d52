import DICOM
import DIMSE
import Logging
import NIOCore
import Synchronization

/// The server's DIMSE services: C-ECHO, C-STORE, C-FIND, C-MOVE and C-GET over the store and the index.
public final class PacsDIMSEService: DIMSEService {
    let store: DataStore
    let ingest: IngestService
    let gate: AccessGate
    /// Runs the ingest and the index's reads off the event loops.
    let blocking: BlockingPool
    /// Decodes an original for a peer that cannot take its transfer syntax (in worker processes).
    let codecs: CodecRunner
    let policies: PolicyStore
    let group: EventLoopGroup
    let logger: Logger
    /// Called when a version someone asked for is not made yet (moves its derivation to the front).
    let versionWanted: @Sendable (String) -> Void
    private let inFlight = Atomic<Int>(0)

    public init(store: DataStore, ingest: IngestService, gate: AccessGate, codecs: CodecRunner, blocking: BlockingPool, policies: PolicyStore,
                group: EventLoopGroup, logger: Logger, versionWanted: @escaping @Sendable (String) -> Void = { _ in }) {
        self.store = store
        self.ingest = ingest
        self.gate = gate
        self.blocking = blocking
        self.codecs = codecs
        self.policies = policies
        self.group = group
        self.logger = logger
        self.versionWanted = versionWanted
    }

    public var negotiator: AssociationNegotiator { Negotiator(policies: policies) }

    public func handle(_ request: DIMSEMessage, on association: Association) async {
        inFlight.add(1, ordering: .relaxed)
        defer { inFlight.subtract(1, ordering: .relaxed) }
        do {
            switch request.commandField {
            case .cEchoRequest?:
                try await association.send(.response(to: request, .cEchoResponse, status: Status.success))
            case .cStoreRequest?:
                try await store(request, from: association)
            case .cFindRequest?:
                try await FindSCP(service: self).find(request, on: association)
            case .cMoveRequest?, .cGetRequest?:
                try await RetrieveSCP(service: self).retrieve(request, on: association)
            default:
                logger.warning("unsupported DIMSE command", metadata: ["command": "\(request.command.int(.commandField) ?? -1)"])
                association.abort()
            }
        } catch {
            logger.error("DIMSE request failed", metadata: ["calling": "\(association.callingAE)", "error": "\(error)"])
        }
    }

    /// A C-STORE's dataset is hashed as it arrives (`StoreDigest`).
    public func observer(for command: DataSet, in context: Association.Context, on association: Association) -> DataSetObserver? {
        guard command.int(.commandField) == Int(CommandField.cStoreRequest.rawValue) else { return nil }
        return StoreDigest(command: command, syntax: context.transferSyntax, sourceAE: association.callingAE)
    }

    /// Waits (up to `limit`) until no request is being served: a shutdown answers what it has accepted.
    public func drain(limit: Duration = .seconds(5)) async {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        while inFlight.load(ordering: .relaxed) > 0, clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// C-STORE: success only once the instance is durable and indexed. The response leaves from the blocking
    /// thread as soon as that is so, while the file is renamed into place.
    private func store(_ request: DIMSEMessage, from association: Association) async throws {
        guard let bytes = request.dataSet, let context = association.contexts[request.contextID] else {
            try await association.send(.response(to: request, .cStoreResponse, status: Status.cannotUnderstand) { $0.set(.errorComment, .LO, "no dataset") })
            return
        }
        let ingest = self.ingest, logger = self.logger
        let caller = association.callingAE
        do {
            try await blocking.run {
                var unsent: Error?
                ingest.ingest(dataSet: bytes, syntax: context.transferSyntax, sopClassUID: request.affectedSOPClassUID,
                              sopInstanceUID: request.affectedSOPInstanceUID.isEmpty ? nil : request.affectedSOPInstanceUID,
                              sourceAE: caller, digest: request.observer as? StoreDigest) { outcome in
                    do {
                        try association.write(Self.storeResponse(to: request, outcome, caller: caller, logger: logger))
                    } catch {
                        unsent = error
                    }
                }
                if let unsent { throw unsent }
            }
        } catch {
            // The blocking pool refused the work (the server is stopping), or the answer could not be encoded: the
            // peer hears why rather than waiting.
            try await association.send(.response(to: request, .cStoreResponse, status: Status.unableToProcess) {
                $0.set(.errorComment, .LO, Self.comment("\(error)"))
            })
        }
    }

    private static func storeResponse(to request: DIMSEMessage, _ outcome: Result<IngestOutcome, IngestError>, caller: String,
                                      logger: Logger) -> DIMSEMessage {
        switch outcome {
        case let .success(.coerced(_, supplied)):
            return .response(to: request, .cStoreResponse, status: Status.coercionOfDataElements) {
                $0.set(.errorComment, .LO, comment("no \(supplied.joined(separator: "/")) in the dataset: supplied"))
            }
        case .success:
            return .response(to: request, .cStoreResponse, status: Status.success)
        case let .failure(error):
            logger.warning("C-STORE refused", metadata: ["calling": "\(caller)", "sop": "\(request.affectedSOPInstanceUID)", "reason": "\(error)"])
            let status: UInt16
            switch error {
            case .malformed: status = Status.cannotUnderstand
            case .classMismatch, .instanceMismatch: status = Status.dataSetDoesNotMatchSOPClass
            case .conflict: status = Status.conflictHeldAside
            case .storage: status = Status.outOfResources
            case .index: status = Status.unableToProcess
            }
            return .response(to: request, .cStoreResponse, status: status) { $0.set(.errorComment, .LO, comment("\(error)")) }
        }
    }

    /// A calling AE as the access gate sees callers: by its network.yaml role; one not listed (accepted only when
    /// the policy takes unknown callers) as a referring workstation.
    func caller(_ callingAE: String) -> Caller {
        policies.current.network.remote(callingAE)?.caller ?? Caller(name: callingAE, role: .referring)
    }

    /// Error Comment is LO: at most 64 characters of the default repertoire.
    static func comment(_ text: String) -> String {
        String(String(text.unicodeScalars.filter { $0.isASCII }).prefix(64))
    }
}
