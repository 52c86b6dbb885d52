import Foundation

/// Where the workstation finds its server and credentials: command-line flags first, then the
/// environment (`STRATA_URL`, `STRATA_USER`, `STRATA_PASSWORD`), then the settings file,
/// `$XDG_CONFIG_HOME/strata/workstation.conf` (`~/.config/strata/workstation.conf`; see `UserFolders`).
public struct ClientSettings: Sendable, Equatable {
    public var url: URL
    public var user: String?
    public var password: String?

    public enum Problem: Error, Equatable, CustomStringConvertible {
        case noServer
        case badURL(String)

        public var description: String {
            switch self {
            case .noServer: return "no server given: use --url, set STRATA_URL, or put `url = …` in \(UserFolders().settingsFile.path)"
            case let .badURL(text): return "\"\(text)\" is not an http(s) URL"
            }
        }
    }

    /// Resolves each setting from the first source that has it.
    public static func resolve(url: String?, user: String?, password: String?,
                               environment: [String: String] = ProcessInfo.processInfo.environment,
                               configFile: URL = UserFolders().settingsFile) throws(Problem) -> ClientSettings {
        let file = (try? String(contentsOf: configFile, encoding: .utf8)).map(parseConfig) ?? [:]
        guard let urlText = url ?? environment["STRATA_URL"] ?? file["url"] else { throw .noServer }
        guard let parsed = URL(string: urlText), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
            throw .badURL(urlText)
        }
        return ClientSettings(url: parsed,
                              user: user ?? environment["STRATA_USER"] ?? file["user"],
                              password: password ?? environment["STRATA_PASSWORD"] ?? file["password"])
    }

    static func parseConfig(_ text: String) -> [String: String] {
        var values: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.hasPrefix("#"), let equals = trimmed.firstIndex(of: "=") else { continue }
            let key = trimmed[..<equals].trimmingCharacters(in: .whitespaces)
            values[key] = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
        }
        return values
    }
}
