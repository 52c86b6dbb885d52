import Foundation
import Testing
@testable import PacsServer

@Suite("Network policy: known AEs, roles, and editing that keeps the admin's comments")
struct NetworkPolicyTests {
    @Test("the shipped network policy: our AE title, ports, unknown callers refused")
    func shipped() throws {
        let network = try Policies.load(from: Repository.policies).get().network
        #expect(network.aeTitle == "STRATA")
        #expect(network.dicomPort == 11112)
        #expect(!network.acceptUnknownCallers)
        #expect(network.remote("STORESCU")?.role == .modality)
    }

    @Test("roles pick the version and the access row; an entry may override the version")
    func roles() {
        #expect(RemoteAE(title: "R", host: "h", port: 1, role: .reading).retrievedVersion == "V1")
        #expect(RemoteAE(title: "R", host: "h", port: 1, role: .referring).retrievedVersion == "V2")
        #expect(RemoteAE(title: "R", host: "h", port: 1, role: .teleradiology).retrievedVersion == "V3")
        #expect(RemoteAE(title: "R", host: "h", port: 1, role: .teleradiology, version: "V2").retrievedVersion == "V2")
        #expect(RemoteRole.peer.accessRole == .admin)
    }

    @Test("ae add and remove edit the list only, keep comments, and refuse an edit that would not validate")
    func editing() throws {
        let folder = try Repository.policyCopy()
        let editor = PolicyListEditor.remoteAEs(in: folder)
        let before = try String(contentsOf: folder.appendingPathComponent("network.yaml"), encoding: .utf8)
        try editor.add([("title", "TELE1"), ("host", "10.1.2.3"), ("port", "104"), ("role", "teleradiology")])
        var network = try Policies.load(from: folder).get().network
        #expect(network.remote("TELE1")?.port == 104)
        try editor.remove("STORESCU")
        network = try Policies.load(from: folder).get().network
        #expect(network.remote("STORESCU") == nil)
        let after = try String(contentsOf: folder.appendingPathComponent("network.yaml"), encoding: .utf8)
        let comments = { (text: String) in text.split(separator: "\n").filter { $0.hasPrefix("#") } }
        #expect(comments(after) == comments(before))
        #expect(throws: PolicyListEditor.Problem.self) { try editor.add([("title", "TELE1"), ("host", "h"), ("port", "1"), ("role", "peer")]) }
        #expect(throws: PolicyListEditor.Problem.self) {
            try editor.add([("title", "BAD"), ("host", "h"), ("port", "1"), ("role", "peer"), ("version", "V9")])
        }
        #expect(try Policies.load(from: folder).get().network.remote("BAD") == nil)
    }
}
