import Foundation
import Testing
@testable import PacsServer

@Suite("Policies: shipped defaults, validation with file/line/key, live reload")
struct PolicyTests {
    @Test("the shipped policies carry DOMAIN.md's defaults")
    func shippedDefaults() throws {
        let policies = try Policies.load(from: Repository.policies).get()
        let compression = policies.compression
        #expect(compression.losslessCopy)
        #expect(compression.versions.map(\.name) == ["V2", "V3"])
        #expect(compression.versions.map(\.quality) == [50, 25])
        #expect(compression.ratio(for: "V2", modality: "CR") == 20)
        #expect(compression.ratio(for: "V3", modality: "CR") == 50)
        #expect(compression.ratio(for: "V2", modality: "CT") == 10)
        #expect(compression.ratio(for: "V3", modality: "MR") == 10)
        #expect(compression.ratio(for: "V2", modality: "US") == 10)  // the defaults row
        let access = policies.access
        for version in ["V1", "V2", "V3"] {
            #expect(!access.decide(role: .referring, status: .unread, version: version).allowed)
            #expect(access.decide(role: .referring, status: .unread, version: version).rule == "access.yaml roles.referring.unread")
        }
        #expect(access.decide(role: .teleradiology, status: .unread, version: "V1").allowed)
        #expect(access.decide(role: .referring, status: .diagnosed, version: "V2").allowed)
        #expect(!access.decide(role: .referring, status: .report, version: "V1").allowed)
        #expect(access.decide(role: .reading, status: .report, version: "V1").allowed)
        #expect(access.decide(role: .admin, status: .unread, version: "V3").allowed)
        #expect(policies.tiering.variant == .move)
        #expect(policies.tiering.rules.first?.versions == ["V1"])
        #expect(policies.tiering.highWatermark > policies.tiering.lowWatermark)
    }

    @Test("broken edits are reported with file, line and key, all of them at once")
    func validation() throws {
        let folder = try Repository.policyCopy()
        try """
        lossless_copy: maybe
        versions:
          - name: V2
            purpose: reference
            quality: 150
          - name: V3
            purpose: sightseeing
            quality: 25
        defaults:
          ratio: { V2: 10, V3: 20, V9: 3 }
        rules:
          - modality: CR
            ratoi: { V2: 20 }
        """.write(to: folder.appendingPathComponent("compression.yaml"), atomically: true, encoding: .utf8)
        let errors = try #require(Policies.load(from: folder).failure)
        let text = errors.description
        #expect(text.contains("compression.yaml:1: lossless_copy: expected true or false"))
        #expect(text.contains("compression.yaml:5: versions[0].quality: 150 is out of range"))
        #expect(text.contains("compression.yaml:7: versions[1].purpose: \"sightseeing\" is not a purpose"))
        #expect(text.contains("compression.yaml:10: defaults.ratio.V9: V9 is not a version defined under `versions`"))
        #expect(text.contains("compression.yaml:13: rules[0].ratoi: unknown key"))
        #expect(!text.contains("V2 is not a version"), "a version whose entry has a fault still counts as defined")
    }

    @Test("references to versions and roles that do not exist are refused")
    func references() throws {
        let folder = try Repository.policyCopy()
        var access = try String(contentsOf: folder.appendingPathComponent("access.yaml"), encoding: .utf8)
        access = access.replacingOccurrences(of: "  admin: all", with: "  admin: all\n  janitor: all")
        access = access.replacingOccurrences(of: "unread:      [V1]", with: "unread:      [V7]")
        try access.write(to: folder.appendingPathComponent("access.yaml"), atomically: true, encoding: .utf8)
        let text = try #require(Policies.load(from: folder).failure).description
        #expect(text.contains("default.unread: V7 is not a version"))
        #expect(text.contains("roles.janitor: \"janitor\" is not a role"))
    }

    @Test("invalid YAML and a missing file are reported, not crashed on")
    func unreadable() throws {
        let folder = try Repository.policyCopy()
        try "fast: [unclosed".write(to: folder.appendingPathComponent("tiering.yaml"), atomically: true, encoding: .utf8)
        try FileManager.default.removeItem(at: folder.appendingPathComponent("access.yaml"))
        let text = try #require(Policies.load(from: folder).failure).description
        #expect(text.contains("tiering.yaml:2: is not valid YAML"))
        #expect(!text.contains("fast: is missing"), "an unparsable file is reported once")
        #expect(text.contains("access.yaml: is missing or unreadable"))
    }

    @Test("a reload swaps valid policies in and keeps the old ones when an edit is broken")
    func reload() throws {
        let folder = try Repository.policyCopy()
        let store = try PolicyStore(folder: folder)
        let file = folder.appendingPathComponent("compression.yaml")
        let original = try String(contentsOf: file, encoding: .utf8)
        let crRule = try #require(original.range(of: "ratio: { V2: 20, V3: 50 }"))
        try original.replacingCharacters(in: crRule, with: "ratio: { V2: 25, V3: 50 }").write(to: file, atomically: true, encoding: .utf8)
        #expect(store.reload() == nil)
        #expect(store.current.compression.ratio(for: "V2", modality: "CR") == 25)
        try "versions: 12".write(to: file, atomically: true, encoding: .utf8)
        #expect(store.reload() != nil)
        #expect(store.current.compression.ratio(for: "V2", modality: "CR") == 25)
    }
}

extension Result {
    var failure: Failure? {
        if case let .failure(error) = self { return error }
        return nil
    }
}
