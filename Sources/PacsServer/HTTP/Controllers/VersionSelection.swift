import Hummingbird
import HTTPTypes
import Tiering

/// Which version a versions-API request gets, and up to which level: by name (`version=V2`), by minimum quality
/// (`quality=50`: the smallest version at least that good), by purpose (`purpose=reference`), or, when the
/// request names none, by the delivery policy from the request's context. Every choice then passes the access
/// gate; a refusal names the rule, never substitutes another version.
struct VersionSelection {
    var version: String
    /// `level=k` as asked; nil to let the display (or the full image) decide.
    var level: Int?
    /// The longest side the client wants, from the request or the delivery policy.
    var display: Int?
    /// What chose the version: the request's parameter or the delivery.yaml rule.
    var rule: String

    static func choose(_ request: Request, caller: Caller, place: String?, status: DiagnosisStatus, policies: Policies,
                       gate: AccessGate) throws -> VersionSelection {
        let query = request.uri.queryParameters
        func value(_ name: String, header: String) -> String? {
            query[Substring(name)].map(String.init) ?? request.headers[HTTPField.Name(header)!]
        }
        let level = try query["level"].map { text -> Int in
            guard let level = Int(text), level >= 0 else { throw HTTPError(.badRequest, message: "level is a number from 0 (the smallest image) up") }
            return level
        }
        let display = try value("display", header: "X-Strata-Display").map { text -> Int in
            guard let pixels = Int(text), pixels > 0 else { throw HTTPError(.badRequest, message: "display is the longest side of the screen in pixels") }
            return pixels
        }
        let compression = policies.compression
        // V1 is the diagnostic original at full quality; the derived versions carry their own.
        let catalogue = [(name: "V1", quality: 100, purpose: Purpose.diagnosis)] + compression.versions.map { (name: $0.name, quality: $0.quality, purpose: $0.purpose) }
        let asked: (version: String, rule: String)?
        if let name = query["version"].map(String.init) {
            guard catalogue.contains(where: { $0.name == name }) else {
                throw HTTPError(.badRequest, message: "\(name) is not a version: \(catalogue.map(\.name).joined(separator: ", "))")
            }
            asked = (name, "request version=\(name)")
        } else if let text = query["quality"] {
            guard let minimum = Int(text), (1...100).contains(minimum) else { throw HTTPError(.badRequest, message: "quality is a percentage from 1 to 100") }
            guard let best = catalogue.filter({ $0.quality >= minimum }).min(by: { $0.quality < $1.quality }) else {
                throw HTTPError(.notFound, message: "no version has quality \(minimum)% or more")
            }
            asked = (best.name, "request quality=\(minimum)")
        } else if let text = query["purpose"] {
            guard let purpose = Purpose(rawValue: String(text)) else {
                throw HTTPError(.badRequest, message: "purpose is \(Purpose.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard let match = catalogue.first(where: { $0.purpose == purpose }) else {
                throw HTTPError(.notFound, message: "no version serves \(purpose.rawValue) (compression.yaml)")
            }
            asked = (match.name, "request purpose=\(purpose.rawValue)")
        } else {
            asked = nil
        }

        if let asked {
            try gate.check(caller, version: asked.version, status: status)
            return VersionSelection(version: asked.version, level: level, display: display, rule: asked.rule)
        }
        let decision = delivery(request, caller: caller, place: place, status: status, policies: policies, gate: gate, display: display)
        guard let version = decision.version else { throw refusal(decision, caller: caller, status: status, gate: gate) }
        return VersionSelection(version: version, level: level, display: decision.display, rule: decision.rule)
    }

    /// What the delivery policy offers a request that names no version, from its context (query parameters or
    /// X-Strata-* headers: place, link rate, memory, display; the user's place in users.yaml).
    static func delivery(_ request: Request, caller: Caller, place: String?, status: DiagnosisStatus, policies: Policies, gate: AccessGate,
                         display: Int?) -> DeliveryDecision {
        let query = request.uri.queryParameters
        func value(_ name: String, header: String) -> String? {
            query[Substring(name)].map(String.init) ?? request.headers[HTTPField.Name(header)!]
        }
        let context = DeliveryContext(role: caller.role, status: status,
                                      place: value("place", header: "X-Strata-Place") ?? place,
                                      linkRate: value("link", header: "X-Strata-Link-Rate").flatMap(LinkRate.bitsPerSecond),
                                      memory: value("memory", header: "X-Strata-Memory").flatMap(Quantity.bytes),
                                      display: display)
        return policies.delivery.decide(context) { gate.decision(caller, version: $0, status: status).allowed }
    }

    /// The refusal when the access matrix allows none of the versions the delivery policy offers.
    static func refusal(_ decision: DeliveryDecision, caller: Caller, status: DiagnosisStatus, gate: AccessGate) -> AccessRefusal {
        let first = decision.candidates.first ?? "V1"
        let rule = gate.decision(caller, version: first, status: status).rule
        return AccessGate.refusal(caller, version: first, status: status,
                                  rule: "\(rule); \(decision.rule) offers only \(decision.candidates.joined(separator: ", "))")
    }

    /// The level to send of a codestream with these level sizes (smallest first): the one asked (capped at
    /// the full image), else the smallest covering the display, else the full image.
    func level(sizes: [[Int]]) -> Int {
        let top = sizes.count - 1
        if let level { return min(level, top) }
        guard let display else { return top }
        return sizes.firstIndex { ($0.max() ?? 0) >= display } ?? top
    }
}
