import ArgumentParser
import Codecs
import CommandLineSupport
import Foundation
import Workstation

/// Where the server is and who asks; the password from a flag, the environment, the config file, or asked
/// for on the terminal without echo.
struct Connection: ParsableArguments {
    @Option(help: "Server URL (else $STRATA_URL, else $XDG_CONFIG_HOME/strata/workstation.conf, ~/.config/… by default).") var url: String?
    @Option(help: "User name (else $STRATA_USER).") var user: String?
    @Option(help: "Password (else $STRATA_PASSWORD or the config file; asked for on a terminal).") var password: String?
    @Option(help: "Throttle downloads, e.g. 2mbit.") var rate: String?

    func client() throws -> StrataClient {
        var settings: ClientSettings
        do {
            settings = try ClientSettings.resolve(url: url, user: user, password: password)
        } catch {
            throw ValidationError(error.description)
        }
        if settings.user != nil, settings.password == nil, isatty(STDIN_FILENO) == 1 {
            settings.password = Secret.read(prompt: "password for \(settings.user!): ")
        }
        let limiter = try rate.map { text -> RateLimiter? in
            guard let bits = RateLimiter.bitsPerSecond(text) else { throw ValidationError("--rate: \(text) is not a rate such as 2mbit") }
            return RateLimiter(bitsPerSecond: bits)
        } ?? nil
        return StrataClient(settings: settings, limiter: limiter)
    }
}
