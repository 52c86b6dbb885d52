import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOSSL
import NIOCore

/// The HTTP side of `pacs serve`: DICOMweb under /dicom-web (as in Orthanc), the API under /api/v1,
/// /auth/token and /health. Authentication and the access log wrap every route.
public enum HTTPService {
    /// Why the HTTP service cannot start.
    public struct ConfigurationProblem: Error, CustomStringConvertible {
        public let description: String
    }

    public static func application(store: DataStore, ingest: IngestService, policies: PolicyStore, tiering: TieringService, events: EventHub,
                                   codecs: CodecRunner, host: String, port: Int, logger: Logger) throws -> some ApplicationProtocol {
        let network = policies.current.network
        // A client that sends nothing for a minute is cut off rather than holding a connection forever.
        let http1 = HTTPServerBuilder.http1(configuration: .init(idleTimeout: .seconds(60)))
        let server: HTTPServerBuilder
        let scheme: String
        if let tls = network.tls {
            do {
                let certificates = try NIOSSLCertificate.fromPEMFile(tls.certificate).map { NIOSSLCertificateSource.certificate($0) }
                let key = try NIOSSLPrivateKey(file: tls.key, format: .pem)
                server = try .tls(http1, tlsConfiguration: .makeServerConfiguration(certificateChain: certificates, privateKey: .privateKey(key)))
                scheme = "https"
            } catch {
                throw ConfigurationProblem(description: "network.yaml http_tls: cannot use \(tls.certificate) and \(tls.key): \(error)")
            }
        } else if network.httpPlain {
            server = http1
            scheme = "http"
        } else {
            throw ConfigurationProblem(description: "network.yaml names no http_tls certificate and key, and http_plain is not true: "
                                       + "the HTTP service would expose patient data unencrypted, so it does not start")
        }
        let tokens = TokenStore()
        let router = Router(context: StrataContext.self)
        router.add(middleware: AccessLog(url: store.folder.appendingPathComponent("access.log")))
        router.add(middleware: ResponseCompression())
        // The viewer's page and scripts hold no patient data: they load before logging in.
        if let viewer = viewerFolder() {
            router.add(middleware: FileMiddleware(viewer.path, urlBasePath: "/viewer", searchForIndexHtml: true, logger: logger))
        } else {
            logger.warning("the web viewer's files (Viewer/) were not found: /viewer is off; set STRATA_VIEWER to their folder")
        }
        router.add(middleware: AuthMiddleware(policies: policies, tokens: tokens))

        router.get("health") { _, _ in json("{\"status\":\"ok\"}") }
        router.post("auth/token") { _, context in
            let user = try context.user
            let lifetime = policies.current.users.tokenLifetime
            let token = tokens.issue(for: user.name, lifetime: lifetime)
            return json("{\"access_token\":\"\(token)\",\"token_type\":\"Bearer\",\"expires_in\":\(Int(lifetime))}")
        }

        let qido = QIDO(store: store)
        let wado = WADO(store: store, policies: policies, codecs: codecs)
        let stow = STOW(ingest: ingest, policies: policies, logger: logger)
        let web = router.group("dicom-web")
        web.get("studies") { request, _ in try await qido.search(request, level: .study) }
        web.get("series") { request, _ in try await qido.search(request, level: .series) }
        web.get("instances") { request, _ in try await qido.search(request, level: .image) }
        web.get("studies/:study/series") { request, context in
            try await qido.search(request, level: .series, study: context.parameters.require("study"))
        }
        web.get("studies/:study/instances") { request, context in
            try await qido.search(request, level: .image, study: context.parameters.require("study"))
        }
        web.get("studies/:study/series/:series/instances") { request, context in
            try await qido.search(request, level: .image, study: context.parameters.require("study"), series: context.parameters.require("series"))
        }

        // The instances a WADO path names, gated for V1 unless the handler picks (and gates) the version.
        @Sendable func selected(_ context: StrataContext, checkV1: Bool = true) async throws -> [InstanceSummary] {
            try await wado.instances(study: context.parameters.require("study"), series: context.parameters.get("series"),
                                     instance: context.parameters.get("instance"), user: try context.user, checkV1: checkV1)
        }
        let rendered = Rendered(store: store, policies: policies, codecs: codecs)
        for path in ["studies/:study", "studies/:study/series/:series", "studies/:study/series/:series/instances/:instance"] {
            web.get(RouterPath(path)) { request, context in try await wado.retrieve(request, try await selected(context)) }
            // Metadata carries no pixels: any version the user may have of the study opens it.
            web.get(RouterPath("\(path)/metadata")) { request, context in
                let found = try await selected(context, checkV1: false)
                try AccessGate(policies: policies).checkAny(user: try context.user, status: try store.index.status(studyInstanceUID: found[0].studyInstanceUID) ?? 1)
                return try await wado.metadata(request, found)
            }
            for (suffix, thumbnail) in [("rendered", false), ("thumbnail", true)] {
                web.get(RouterPath("\(path)/\(suffix)")) { request, context in
                    try await rendered.render(request, try await selected(context, checkV1: false), user: try context.user, thumbnail: thumbnail)
                }
            }
        }
        web.get("studies/:study/series/:series/instances/:instance/frames/:frames") { request, context in
            try await wado.frames(request, try await selected(context)[0], list: context.parameters.require("frames"))
        }
        web.get("studies/:study/series/:series/instances/:instance/bulkdata/:tag") { _, context in
            guard context.parameters.get("tag")?.uppercased() == "7FE00010" else {
                throw HTTPError(.notFound, message: "only the pixel data (7FE00010) is bulk data here")
            }
            return try await wado.bulkData(try await selected(context)[0])
        }

        router.get("api/v1/events") { _, context in events.stream(for: try context.user, policies: policies) }

        let status = StatusAPI(store: store, events: events)
        router.get("api/v1/studies/:study/status") { _, context in try await status.get(study: context.parameters.require("study")) }
        router.put("api/v1/studies/:study/status") { request, context in
            try await status.set(request, study: context.parameters.require("study"), context: context)
        }

        let diagnostic = DiagnosticAPI(store: store, events: events)
        router.get("api/v1/studies/:study/diagnostic") { request, context in try await diagnostic.get(request, study: context.parameters.require("study")) }
        // Notes and annotations alike: POST adds an item, PUT revises it, DELETE retracts it.
        for (kind, write) in [("notes", diagnostic.note), ("annotations", diagnostic.annotation)] {
            router.post(RouterPath("api/v1/studies/:study/\(kind)")) { request, context in
                try await write(request, context.parameters.require("study"), nil, false, context)
            }
            router.put(RouterPath("api/v1/studies/:study/\(kind)/:item")) { request, context in
                try await write(request, context.parameters.require("study"), context.parameters.require("item"), false, context)
            }
            router.delete(RouterPath("api/v1/studies/:study/\(kind)/:item")) { request, context in
                try await write(request, context.parameters.require("study"), context.parameters.require("item"), true, context)
            }
        }
        router.put("api/v1/studies/:study/report") { request, context in
            try await diagnostic.report(request, study: context.parameters.require("study"), context: context)
        }

        let versions = VersionsAPI(store: store, policies: policies, codecs: codecs)
        for scope in [VersionsAPI.Scope.studies, .series, .instances] {
            router.get(RouterPath("api/v1/\(scope.rawValue)/:\(scope.parameter)/versions")) { _, context in
                try await versions.list(scope, context.parameters.require(scope.parameter), user: try context.user)
            }
        }
        for scope in [VersionsAPI.Scope.studies, .series] {
            router.get(RouterPath("api/v1/\(scope.rawValue)/:\(scope.parameter)/frames")) { request, context in
                try await versions.frames(request, scope, context.parameters.require(scope.parameter), user: try context.user)
            }
        }
        router.get("api/v1/instances/:sop") { request, context in
            try await versions.object(request, sop: context.parameters.require("sop"), user: try context.user)
        }
        router.get("api/v1/instances/:sop/frames/:frame") { request, context in
            guard let number = Int(try context.parameters.require("frame")) else { throw HTTPError(.badRequest, message: "frames are numbered from 1") }
            return try await versions.frame(request, sop: context.parameters.require("sop"), number: number, user: try context.user)
        }

        let tier = TierAPI(tiering: tiering)
        router.get("api/v1/admin/tier") { _, context in try await tier.figures(context: context) }
        router.post("api/v1/admin/tier/run") { request, context in try await tier.run(request, context: context) }
        router.post("api/v1/admin/tier/recall") { request, context in try await tier.recall(request, context: context) }
        router.post("api/v1/admin/tier/prefetch") { request, context in try await tier.schedulePrefetch(request, context: context) }
        router.get("api/v1/admin/tier/prefetch") { _, context in try await tier.prefetches(context: context) }

        web.post("studies") { request, context in try await stow.store(request, user: try context.user, study: nil) }
        web.post("studies/:study") { request, context in
            try await stow.store(request, user: try context.user, study: context.parameters.require("study"))
        }

        return Application(router: router, server: server, configuration: .init(address: .hostname(host, port: port), serverName: "Strata"),
                           onServerRunning: { channel in
                               logger.info("HTTP listening on \(host):\(channel.localAddress?.port ?? port) (\(scheme))")
                           }, logger: logger)
    }

    /// The web viewer's folder: $STRATA_VIEWER, else `Viewer/` in the working folder, else in the repository
    /// the binary was built in (`.build/<config>/pacs`).
    static func viewerFolder() -> URL? {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let candidates = [ProcessInfo.processInfo.environment["STRATA_VIEWER"].map { URL(fileURLWithPath: $0) },
                          URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("Viewer"),
                          executable.deletingLastPathComponent().appendingPathComponent("../../../Viewer").standardizedFileURL]
        return candidates.compactMap { $0 }.first { FileManager.default.fileExists(atPath: $0.appendingPathComponent("index.html").path) }
    }

    /// A value as JSON with snake_case keys, the API's style.
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    static func json(_ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
