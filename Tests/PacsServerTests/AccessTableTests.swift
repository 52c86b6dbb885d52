import DICOM
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing
@testable import PacsServer

/// Every route the HTTP service answers, asked by every role about a study at every status for every version, answers
/// as access.yaml says: what it refuses is 403 naming the rule (404 for a study it hides), what it allows is served.
/// The routes are listed from the router itself: a route added without an entry in `guards` fails the test, so a new
/// path cannot skip the gate unnoticed. (DIMSE's C-GET and C-MOVE run the same table in e2e/test_progressive.py,
/// C-FIND's visibility in e2e/test_visibility.py, both with real peers.)
@Suite("The access table: every HTTP route x role x status x version as access.yaml says", .serialized)
struct AccessTableTests {
    /// What a route hands out, and so which cell of access.yaml decides its answer.
    enum Guard {
        /// Answered to anyone, without credentials (`/health`).
        case open
        /// Any authenticated user; nothing of a study is in the answer.
        case anyUser
        /// Server-sent events: each event passes the gate for the subscriber (e2e/test_visibility.py); here, that a
        /// stranger gets no stream.
        case stream
        /// A search: the study is listed exactly when access.yaml does not hide it, its (0073,1010) naming the
        /// versions allowed.
        case search(query: String)
        /// The study's status or its version listing: answered exactly when the study is not hidden.
        case existence
        /// Headers or clinical content: answered when some version is allowed.
        case metadata
        /// The pixels of one version.
        case version(String)
        /// The pixels of the version the request names (`?version=`), tried with each; the delivery policy may refuse
        /// what access.yaml allows (naming delivery.yaml), never the reverse.
        case requestedVersion
        /// A rendering of the best version the delivery policy offers among those allowed.
        case rendered
        /// A change or an administration, by role whatever the study's status.
        case roles(Set<Role>, body: String)
    }

    /// Every route the server has, and what guards it.
    static let guards: [String: Guard] = {
        let writers: Set<Role> = [.reading, .admin], senders: Set<Role> = [.reading, .teleradiology, .admin], admin: Set<Role> = [.admin]
        let stow = "--strata--\r\n"
        var guards: [String: Guard] = [
            "GET /health": .open,
            "POST /auth/token": .anyUser,
            "GET /api/v1/events": .stream,
            "GET /dicom-web/studies": .search(query: "StudyInstanceUID={study}"),
            "GET /dicom-web/series": .search(query: "StudyInstanceUID={study}"),
            "GET /dicom-web/instances": .search(query: "StudyInstanceUID={study}"),
            "GET /dicom-web/studies/:study/series": .search(query: ""),
            "GET /dicom-web/studies/:study/instances": .search(query: ""),
            "GET /dicom-web/studies/:study/series/:series/instances": .search(query: ""),
            "GET /dicom-web/studies/:study/series/:series/instances/:instance/frames/:frames": .version("V1"),
            "GET /dicom-web/studies/:study/series/:series/instances/:instance/bulkdata/:tag": .version("V1"),
            "POST /dicom-web/studies": .roles(senders, body: stow),
            "POST /dicom-web/studies/:study": .roles(senders, body: stow),
            "GET /api/v1/studies/:study/status": .existence,
            "PUT /api/v1/studies/:study/status": .roles(writers, body: "{\"status\": 0}"),
            "GET /api/v1/studies/:study/diagnostic": .metadata,
            "PUT /api/v1/studies/:study/report": .roles(writers, body: "{}"),
            "GET /api/v1/instances/:sop": .requestedVersion,
            "GET /api/v1/instances/:sop/frames/:frame": .requestedVersion,
            "GET /api/v1/studies/:study/frames": .requestedVersion,
            "GET /api/v1/series/:series/frames": .requestedVersion,
            "GET /api/v1/studies/:study/versions": .existence,
            "GET /api/v1/series/:series/versions": .existence,
            "GET /api/v1/instances/:sop/versions": .existence,
            "GET /api/v1/admin/tier": .roles(admin, body: ""),
            "POST /api/v1/admin/tier/run": .roles(admin, body: "{\"dry_run\": true}"),
            "POST /api/v1/admin/tier/recall": .roles(admin, body: "{}"),
            "POST /api/v1/admin/tier/prefetch": .roles(admin, body: "{}"),
            "GET /api/v1/admin/tier/prefetch": .roles(admin, body: ""),
        ]
        for kind in ["notes", "annotations"] {
            guards["POST /api/v1/studies/:study/\(kind)"] = .roles(writers, body: "{}")
            guards["PUT /api/v1/studies/:study/\(kind)/:item"] = .roles(writers, body: "{}")
            guards["DELETE /api/v1/studies/:study/\(kind)/:item"] = .roles(writers, body: "")
        }
        for path in ["studies/:study", "studies/:study/series/:series", "studies/:study/series/:series/instances/:instance"] {
            guards["GET /dicom-web/\(path)"] = .version("V1")
            guards["GET /dicom-web/\(path)/metadata"] = .metadata
            guards["GET /dicom-web/\(path)/rendered"] = .rendered
            guards["GET /dicom-web/\(path)/thumbnail"] = .rendered
        }
        return guards
    }()

    /// The shipped access.yaml, and the same with referring doctors not seeing unread studies at all.
    static let accessVariants = ["hidden: {}", "hidden: {referring: [unread]}"]

    @Test("each route answers every role about a study at each status as access.yaml says", arguments: accessVariants)
    func everyRouteRoleStatusAndVersion(hidden: String) async throws {
        let (site, router) = try Site.make(hidden: hidden)
        let unguarded = site.routes.map(\.key).filter { Self.guards[$0] == nil }
        #expect(unguarded.isEmpty, "routes with no entry in the access table (say what guards them): \(unguarded)")
        let listed = Set(site.routes.map(\.key))
        #expect(Set(Self.guards.keys).subtracting(listed).isEmpty, "the table lists routes the server no longer has")

        try await Application(router: router).test(.live) { client in
            for route in site.routes {
                guard let guardKind = Self.guards[route.key] else { continue }
                for status in DiagnosisStatus.allCases {
                    let study = site.studies[status]!
                    if case .open = guardKind {
                        let answer = try await site.ask(client, route, study: study, as: nil)
                        #expect(answer.status == .ok, "\(route.key) without credentials: \(answer)")
                        continue
                    }
                    let stranger = try await site.ask(client, route, study: study, as: nil)
                    #expect(stranger.status == .unauthorized, "\(route.key) without credentials: \(stranger)")
                    for role in Role.allCases {
                        try await check(route, guardKind, role: role, status: status, study: study, site: site, client: client)
                    }
                }
            }
        }
    }

    private func check(_ route: Site.Route, _ guardKind: Guard, role: Role, status: DiagnosisStatus, study: Site.Study,
                       site: Site, client: some TestClientProtocol) async throws {
        let access = site.policies.current.access
        let versions = site.policies.current.compression.versionNames
        let visible = access.isVisible(role: role, status: status)
        let allowed = versions.filter { access.decide(role: role, status: status, version: $0).allowed }
        let cell = "\(route.key) as \(role.rawValue) at \(status.name)"
        func expectHidden(_ answer: Site.Answer) {
            #expect(answer.status == .notFound, "\(cell): a study access.yaml hides is answered \(answer)")
        }
        func expectServed(_ answer: Site.Answer, _ what: String) {
            #expect(answer.status == .ok, "\(cell): \(what) allowed by access.yaml, answered \(answer)")
        }
        func expectRefused(_ answer: Site.Answer, rule: String) {
            #expect(answer.status == .forbidden && answer.text.contains(rule), "\(cell): expected 403 naming \(rule), answered \(answer)")
        }
        switch guardKind {
        case .open:
            break
        case .anyUser:
            expectServed(try await site.ask(client, route, study: study, as: role), "any user")
        case .stream:
            break
        case .search(let query):
            let answer = try await site.ask(client, route, study: study, as: role, query: query)
            let matches = try answer.searchResults().filter { $0.study == study.study }
            if !visible {
                #expect(matches.isEmpty, "\(cell): a study access.yaml hides is listed")
            } else {
                #expect(!matches.isEmpty, "\(cell): the study is not listed: \(answer)")
                for match in matches {
                    #expect(match.versions == allowed, "\(cell): (0073,1010) lists \(match.versions), access.yaml allows \(allowed)")
                }
            }
        case .existence:
            let answer = try await site.ask(client, route, study: study, as: role)
            if visible { expectServed(answer, "the study's existence") } else { expectHidden(answer) }
        case .metadata:
            let answer = try await site.ask(client, route, study: study, as: role)
            if !visible { expectHidden(answer) } else if allowed.isEmpty {
                expectRefused(answer, rule: access.decide(role: role, status: status, version: "V1").rule)
            } else { expectServed(answer, "metadata") }
        case .version(let version):
            let answer = try await site.ask(client, route, study: study, as: role)
            if !visible { expectHidden(answer) } else if allowed.contains(version) { expectServed(answer, version) } else {
                expectRefused(answer, rule: access.decide(role: role, status: status, version: version).rule)
            }
        case .requestedVersion:
            for version in versions {
                let answer = try await site.ask(client, route, study: study, as: role, query: "version=\(version)")
                if !visible { expectHidden(answer) } else if !allowed.contains(version) {
                    expectRefused(answer, rule: access.decide(role: role, status: status, version: version).rule)
                } else if answer.status == .forbidden {
                    #expect(answer.text.contains("delivery.yaml") && !answer.text.contains("access.yaml"),
                            "\(cell) version=\(version): allowed by access.yaml, refused \(answer)")
                } else { expectServed(answer, version) }
            }
        case .rendered:
            let answer = try await site.ask(client, route, study: study, as: role)
            if !visible { expectHidden(answer) } else if allowed.isEmpty {
                #expect(answer.status == .forbidden && answer.text.contains("access.yaml"), "\(cell): expected a refusal naming access.yaml, answered \(answer)")
            } else if answer.status == .forbidden {
                #expect(answer.text.contains("delivery.yaml"), "\(cell): \(allowed) allowed by access.yaml, refused \(answer)")
            } else { expectServed(answer, "a rendering") }
        case .roles(let roles, let body):
            let answer = try await site.ask(client, route, study: study, as: role, body: body)
            if roles.contains(role) {
                #expect(answer.status != HTTPResponse.Status.forbidden && answer.status != HTTPResponse.Status.unauthorized, "\(cell): the role may, answered \(answer)")
            } else {
                #expect(answer.status == .forbidden, "\(cell): the role may not, answered \(answer)")
            }
        }
    }
}

extension AccessTableTests {
    /// A server's routes over a store holding one derived CT study at each status, and a user of each role.
    struct Site: Sendable {
        struct Study: Sendable { var study, series, sop: String }
        /// A route as the table names it (`GET /dicom-web/studies/:study`).
        struct Route: Sendable {
            var key: String
            var route: RouteRecorder.Route
        }
        struct Answer: CustomStringConvertible {
            var status: HTTPResponse.Status
            var text: String
            var description: String {
                let printable = text.unicodeScalars.allSatisfy { $0.value >= 0x20 || $0 == "\n" || $0 == "\r" || $0 == "\t" }
                return "\(status.code) " + (printable ? String(text.prefix(300)) : "(\(text.utf8.count) bytes)")
            }

            /// The studies a search listed, each with the versions its (0073,1010) names.
            func searchResults() throws -> [(study: String, versions: [String])] {
                guard status == .ok || status == .noContent else { throw SiteError(description: "the search failed: \(self)") }
                guard !text.isEmpty else { return [] }
                let results = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])
                return results.map { result in
                    func values(_ tag: String) -> [String] { ((result[tag] as? [String: Any])?["Value"] as? [String]) ?? [] }
                    return (values("0020000D").first ?? "", values("00731010"))
                }
            }
        }
        struct SiteError: Error, CustomStringConvertible { var description: String }

        let routes: [Route]
        let policies: PolicyStore
        let studies: [DiagnosisStatus: Study]

        static func make(hidden: String) throws -> (Site, Router<StrataContext>) {
            let folder = try Repository.policyCopy()
            let accessFile = folder.appendingPathComponent("access.yaml")
            let access = try String(contentsOf: accessFile, encoding: .utf8)
            try access.replacingOccurrences(of: "hidden: {}", with: hidden).write(to: accessFile, atomically: true, encoding: .utf8)
            let users = Role.allCases.map { "  - {name: \($0.rawValue), role: \($0.rawValue), password: \"\(PasswordHash(password: Self.password($0), iterations: 1000).encoded)\"}" }
            try "users:\n\(users.joined(separator: "\n"))\n".write(to: folder.appendingPathComponent("users.yaml"), atomically: true, encoding: .utf8)
            let policies = try PolicyStore(folder: folder)

            let store = try DataStore(folder: Repository.temporaryFolder(), tiering: policies.current.tiering)
            let codecs = InProcessCodecs()
            let ingest = try store.ingestService(codecs: codecs)
            var studies: [DiagnosisStatus: Study] = [:]
            for status in DiagnosisStatus.allCases {
                var file = try DicomFile.read(try Repository.fixture("ct_explicit_le.dcm"))
                let study = Study(study: UID.make(), series: UID.make(), sop: UID.make())
                file.dataSet.set(.studyInstanceUID, .UI, study.study)
                file.dataSet.set(.seriesInstanceUID, .UI, study.series)
                file.dataSet.set(.sopInstanceUID, .UI, study.sop)
                file.meta.set(.mediaStorageSOPInstanceUID, .UI, study.sop)
                _ = try ingest.ingest(fileBytes: try file.encoded())
                if status != .unread {
                    try store.index.changeStatus(studyInstanceUID: study.study, to: status, by: "test", reason: nil, allowBackwards: false, now: 0)
                }
                studies[status] = study
            }
            let policy = policies.current.compression
            try DerivationService(store: store, policy: { policy }, codecs: codecs).drain(workers: 1)

            let blocking = BlockingPool(threads: 2)
            let gate = AccessGate(policies: policies, index: store.index)
            let tiering = TieringService(store: store, policies: policies, logger: Logger(label: "test"))
            let router = Router(context: StrataContext.self)
            let routes = HTTPService.routes(router, store: store, ingest: ingest, policies: policies, gate: gate, tiering: tiering,
                                        tieringLoop: TieringLoop(tiering: tiering, blocking: blocking),
                                        events: EventHub(store: store, gate: gate, blocking: blocking), codecs: codecs, blocking: blocking,
                                        logger: Logger(label: "test"))
                .map { Route(key: "\($0.method) /\(pattern($0.path).joined(separator: "/"))", route: $0) }
            return (Site(routes: routes, policies: policies, studies: studies), router)
        }

        static func password(_ role: Role) -> String { "password of \(role.rawValue)" }

        /// A route's path as components, its parameters written `:name`.
        static func pattern(_ path: String) -> [String] {
            path.split(separator: "/").map { $0.hasPrefix("{") && $0.hasSuffix("}") ? ":" + $0.dropFirst().dropLast() : String($0) }
        }

        /// Asks `route` about `study` with its parameters filled in, as a user of `role` (nil: no credentials).
        func ask(_ client: some TestClientProtocol, _ route: Route, study: Study, as role: Role?,
                 query: String = "", body: String = "") async throws -> Answer {
            let values = [":study": study.study, ":series": study.series, ":instance": study.sop, ":sop": study.sop, ":frames": "1",
                          ":frame": "1", ":tag": "7FE00010", ":item": "1"]
            let path = Self.pattern(route.route.path).map { values[$0] ?? $0 }.joined(separator: "/")
            let filled = query.replacingOccurrences(of: "{study}", with: study.study)
            var headers = HTTPFields()
            if let role {
                headers[.authorization] = "Basic " + Data("\(role.rawValue):\(Self.password(role))".utf8).base64EncodedString()
            }
            if route.route.method == .post, route.key.hasPrefix("POST /dicom-web") {
                headers[.contentType] = "multipart/related; type=\"application/dicom\"; boundary=strata"
            } else if !body.isEmpty {
                headers[.contentType] = "application/json"
            }
            let response = try await client.execute(uri: "/" + path + (filled.isEmpty ? "" : "?" + filled), method: route.route.method, headers: headers,
                                                    body: body.isEmpty ? nil : ByteBuffer(string: body))
            return Answer(status: response.status, text: String(buffer: response.body))
        }
    }
}
