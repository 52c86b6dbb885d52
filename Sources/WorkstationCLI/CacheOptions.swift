import ArgumentParser
import Codecs
import CommandLineSupport
import Foundation
import Workstation

/// The local cache's place and size.
struct CacheOptions: ParsableArguments {
    @Option(help: "Cache folder (default $XDG_CACHE_HOME/strata/workstation, else ~/.cache/strata/workstation).") var cache: String?
    @Option(name: .customLong("cache-limit"), help: "Cache size limit, e.g. 5GB (least recently used frames leave first).") var cacheLimit = "5GB"

    func open() throws -> FrameCache {
        guard let limit = Terminal.bytes(cacheLimit) else { throw ValidationError("--cache-limit: \(cacheLimit) is not a size such as 5GB") }
        return try FrameCache(root: cache.map { URL(fileURLWithPath: $0) } ?? UserFolders().frameCache, limit: limit)
    }
}

/// Runs a command against the server, closing the client and turning failures into one-line errors.
func withClient<T>(_ connection: Connection, _ body: (StrataClient) async throws -> T) async throws -> T {
    let client = try connection.client()
    do {
        let result = try await body(client)
        await client.shutdown()
        return result
    } catch let error as ClientError {
        await client.shutdown()
        Terminal.error(error.description)
        throw ExitCode(error.status == 403 ? 3 : 1)
    } catch {
        await client.shutdown()
        throw error
    }
}
