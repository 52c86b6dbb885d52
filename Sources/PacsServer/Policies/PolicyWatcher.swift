import Logging
import ServiceLifecycle
import UnixSignals

/// Keeps the policies in force current, one of the server's services: a policy file changed on disk (checked every
/// second) or SIGHUP reloads them; a broken edit leaves the previous policies in force.
public struct PolicyWatcher: Service {
    let policies: PolicyStore
    let logger: Logger

    public init(policies: PolicyStore, logger: Logger) {
        self.policies = policies
        self.logger = logger
    }

    public func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        try await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await _ in hangups {
                        logger.info("SIGHUP: reloading policies")
                        policies.reload()
                    }
                }
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(1))
                        policies.reloadIfChanged()
                    }
                }
            }
        }
    }
}
