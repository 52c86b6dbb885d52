import ArgumentParser
import Foundation
import PacsServer

/// Where the data and the policies are; every command takes these.
struct GlobalOptions: ParsableArguments {
    @Option(help: "The data folder (index and tiers). Default: $STRATA_DATA or ./data")
    var data: String?

    @Option(help: "The policy folder. Default: $STRATA_POLICIES or ./Policies")
    var policies: String?

    var dataFolder: URL {
        URL(fileURLWithPath: data ?? ProcessInfo.processInfo.environment["STRATA_DATA"] ?? "data", isDirectory: true)
    }

    var policyFolder: URL {
        URL(fileURLWithPath: policies ?? ProcessInfo.processInfo.environment["STRATA_POLICIES"] ?? "Policies", isDirectory: true)
    }

    func loadPolicies() throws -> PolicyStore {
        do {
            return try PolicyStore(folder: policyFolder)
        } catch {
            throw CLIError("the policies in \(policyFolder.path) are not valid:\n\(error)")
        }
    }

    /// Opens the data folder, finishing or rolling back what a process that died left half done.
    func openStore(policies: PolicyStore, recover: Bool = true) throws -> DataStore {
        let store = try DataStore(folder: dataFolder, tiering: policies.current.tiering)
        if recover { try store.recover() }
        return store
    }
}
