import Foundation

/// Where the workstation keeps its settings and its cache, as the XDG base directory specification says:
/// `$XDG_CONFIG_HOME` and `$XDG_CACHE_HOME` when they hold an absolute path, else `.config` and `.cache` under
/// `$HOME` (under the account's home from the user database only when `HOME` is not set).
public struct UserFolders: Sendable, Equatable {
    public var config: URL
    public var cache: URL

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        // The specification ignores a relative path in these variables.
        func absolute(_ name: String) -> URL? {
            environment[name].flatMap { $0.hasPrefix("/") ? URL(fileURLWithPath: $0, isDirectory: true) : nil }
        }
        let home = absolute("HOME") ?? FileManager.default.homeDirectoryForCurrentUser
        config = absolute("XDG_CONFIG_HOME") ?? home.appendingPathComponent(".config", isDirectory: true)
        cache = absolute("XDG_CACHE_HOME") ?? home.appendingPathComponent(".cache", isDirectory: true)
    }

    /// The settings file (`key = value` lines: url, user, password).
    public var settingsFile: URL { config.appendingPathComponent("strata/workstation.conf") }
    /// The frame cache's folder.
    public var frameCache: URL { cache.appendingPathComponent("strata/workstation", isDirectory: true) }
}
