import Foundation
import Testing
import Workstation

@Suite("Workstation settings: flags, then environment, then the config file")
struct ClientSettingsTests {
    let config: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("strata-ws-\(UUID().uuidString).conf")
        try? "# reading room\nurl = https://pacs.example:8443\nuser = dr.file\npassword = from-file\n".write(to: url, atomically: true, encoding: .utf8)
        return url
    }()

    @Test("flags win over the environment, which wins over the file")
    func precedence() throws {
        let environment = ["STRATA_URL": "http://env:8042", "STRATA_USER": "dr.env"]
        let fromFlags = try ClientSettings.resolve(url: "http://flag:1", user: "dr.flag", password: nil, environment: environment, configFile: config)
        #expect(fromFlags.url.absoluteString == "http://flag:1")
        #expect(fromFlags.user == "dr.flag")
        #expect(fromFlags.password == "from-file")
        let fromEnvironment = try ClientSettings.resolve(url: nil, user: nil, password: nil, environment: environment, configFile: config)
        #expect(fromEnvironment.url.host == "env")
        #expect(fromEnvironment.user == "dr.env")
        let fromFile = try ClientSettings.resolve(url: nil, user: nil, password: nil, environment: [:], configFile: config)
        #expect(fromFile.url.absoluteString == "https://pacs.example:8443")
        #expect(fromFile.user == "dr.file")
    }

    @Test("no server anywhere, or a URL that is not http(s), says what to do")
    func problems() {
        let missing = URL(fileURLWithPath: "/nonexistent/workstation.conf")
        #expect(throws: ClientSettings.Problem.noServer) {
            try ClientSettings.resolve(url: nil, user: nil, password: nil, environment: [:], configFile: missing)
        }
        #expect(throws: ClientSettings.Problem.badURL("ftp://x")) {
            try ClientSettings.resolve(url: "ftp://x", user: nil, password: nil, environment: [:], configFile: missing)
        }
    }

    @Test("settings and cache live where XDG_CONFIG_HOME and XDG_CACHE_HOME say, else under $HOME, whatever the passwd home")
    func baseDirectories() {
        let home = UserFolders(environment: ["HOME": "/srv/reader"])
        #expect(home.settingsFile.path == "/srv/reader/.config/strata/workstation.conf")
        #expect(home.frameCache.path == "/srv/reader/.cache/strata/workstation")
        let xdg = UserFolders(environment: ["HOME": "/srv/reader", "XDG_CONFIG_HOME": "/etc/xdg-reader", "XDG_CACHE_HOME": "/var/cache/reader"])
        #expect(xdg.settingsFile.path == "/etc/xdg-reader/strata/workstation.conf")
        #expect(xdg.frameCache.path == "/var/cache/reader/strata/workstation")
        // A relative path is not a base directory (the specification says to ignore it).
        let relative = UserFolders(environment: ["HOME": "/srv/reader", "XDG_CONFIG_HOME": "conf", "XDG_CACHE_HOME": ""])
        #expect(relative == home)
    }
}
