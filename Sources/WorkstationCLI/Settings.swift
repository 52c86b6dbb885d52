import ArgumentParser
import Codecs
import CommandLineSupport
import Foundation
import Workstation

struct Settings: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show which server and user the client would use (never the password).")
    @Option(help: "Server URL (else $STRATA_URL, else $XDG_CONFIG_HOME/strata/workstation.conf, ~/.config/… by default).") var url: String?
    @Option(help: "User name (else $STRATA_USER).") var user: String?

    func run() async throws {
        do {
            let settings = try ClientSettings.resolve(url: url, user: user, password: nil)
            print("server: \(settings.url.absoluteString)")
            print("user: \(settings.user ?? "(none)")")
            print("password: \(settings.password == nil ? "not set" : "set")")
        } catch {
            throw ValidationError(error.description)
        }
    }
}
