import Foundation
import Testing
@testable import PacsServer

@Suite("Delivery policy: the version and display a request gets when it names none")
struct DeliveryPolicyTests {
    let shipped = try! Policies.load(from: Repository.policies).get()

    func decide(_ context: DeliveryContext) -> DeliveryDecision {
        shipped.delivery.decide(context) { shipped.access.decide(role: context.role, status: context.status, version: $0).allowed }
    }

    @Test("the shipped rules: V2 by default, V3 and a smaller display on slow links and at home, V1 for readers")
    func shippedRules() {
        let referring = decide(DeliveryContext(role: .referring, status: .diagnosed))
        #expect(referring.version == "V2")
        #expect(referring.rule == "delivery.yaml defaults")
        #expect(referring.display == nil)

        let slow = decide(DeliveryContext(role: .referring, status: .diagnosed, linkRate: 2e6))
        #expect(slow.version == "V3")
        #expect(slow.display == 1024)
        #expect(slow.rule == "delivery.yaml rules[0] slow link")

        let home = decide(DeliveryContext(role: .teleradiology, status: .report, place: "home", display: 512))
        #expect(home.version == "V3")
        #expect(home.display == 512, "the client's own smaller display caps the policy's")

        #expect(decide(DeliveryContext(role: .reading, status: .unread)).version == "V1")
        // At `report` the default matrix keeps V1 from referring users, not from readers (their own row).
        #expect(decide(DeliveryContext(role: .reading, status: .report)).version == "V1")
    }

    @Test("when the matrix allows none of the candidates there is no version, and the candidates are named")
    func refused() {
        let unread = decide(DeliveryContext(role: .referring, status: .unread))
        #expect(unread.version == nil)
        #expect(unread.candidates == ["V2", "V3"])
    }

    @Test("link rates parse with units")
    func rates() {
        #expect(LinkRate.bitsPerSecond("2mbit") == 2e6)
        #expect(LinkRate.bitsPerSecond("500 kbit") == 5e5)
        #expect(LinkRate.bitsPerSecond("64000") == 64000)
        #expect(LinkRate.bitsPerSecond("fast") == nil)
        #expect(LinkRate.bitsPerSecond("-3mbit") == nil)
    }

    @Test("a broken delivery.yaml is reported with file, line and key")
    func validation() throws {
        let folder = try Repository.policyCopy()
        try """
        defaults:
          versions: [V2, V9]
        rules:
          - name: somewhere
            when: { place: moon, link_below: quick, role: janitor }
            versions: [V3]
          - name: empty
            when: { status: unread }
        """.write(to: folder.appendingPathComponent("delivery.yaml"), atomically: true, encoding: .utf8)
        let text = try #require(Policies.load(from: folder).failure).description
        #expect(text.contains("delivery.yaml:2: defaults.versions: V9 is not a version"))
        #expect(text.contains("rules[0].when.place: \"moon\" is not a place"))
        #expect(text.contains("rules[0].when.link_below: \"quick\" is not a rate"))
        #expect(text.contains("rules[0].when.role: \"janitor\" is not a role"))
        #expect(text.contains("rule \"empty\" sets neither versions nor display"))
    }
}
