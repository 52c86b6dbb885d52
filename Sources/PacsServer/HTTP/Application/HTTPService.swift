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

    /// The HTTP application: one controller per API, each adding its routes to its group (`dicom-web`, `api/v1`, and
    /// `api/v1/admin` behind the admin role), every path but `/health` and the viewer's files behind authentication.
    public static func application(store: DataStore, ingest: IngestService, policies: PolicyStore, gate: AccessGate, tiering: TieringService,
                                   tieringLoop: TieringLoop, events: EventHub, codecs: CodecRunner, blocking: BlockingPool, host: String, port: Int, logger: Logger) throws -> some ApplicationProtocol {
        let (server, scheme) = try serverBuilder(policies.current.network)
        let router = Router(context: StrataContext.self)
        _ = routes(router, store: store, ingest: ingest, policies: policies, gate: gate, tiering: tiering, tieringLoop: tieringLoop, events: events,
                   codecs: codecs, blocking: blocking, logger: logger)
        return Application(router: router, server: server, configuration: .init(address: .hostname(host, port: port), serverName: "Strata"),
                           onServerRunning: { channel in
                               logger.info("HTTP listening on \(host):\(channel.localAddress?.port ?? port) (\(scheme))")
                           }, logger: logger)
    }

    /// Adds every route and middleware to `router`; returns the routes added (the access-table test lists them).
    static func routes(_ router: Router<StrataContext>, store: DataStore, ingest: IngestService, policies: PolicyStore, gate: AccessGate,
                       tiering: TieringService, tieringLoop: TieringLoop, events: EventHub, codecs: CodecRunner, blocking: BlockingPool,
                       logger: Logger) -> [RouteRecorder.Route] {
        let tokens = TokenStore()
        router.add(middleware: ResponseCompression())
        // The viewer's page and scripts hold no patient data: they load before logging in.
        if let viewer = viewerFolder() {
            router.add(middleware: FileMiddleware(viewer.path, urlBasePath: "/viewer", searchForIndexHtml: true, logger: logger))
        } else {
            logger.warning("the web viewer's files (Viewer/) were not found: /viewer is off; set STRATA_VIEWER to their folder")
        }
        router.add(middleware: CredentialsAuthenticator(policies: policies, tokens: tokens))
        router.add(middleware: AccessLog(url: store.folder.appendingPathComponent("access.log")))
        router.add(middleware: DomainErrors())
        router.add(middleware: RequireCaller(openPaths: ["/health", "/viewer/"]))
        let recorder = RouteRecorder(router)
        recorder.get("health") { _, _ in json("{\"status\":\"ok\"}") }
        recorder.post("auth/token") { _, context in
            let user = try context.user
            let lifetime = policies.current.users.tokenLifetime
            let token = tokens.issue(for: user.name, lifetime: lifetime)
            return json("{\"access_token\":\"\(token)\",\"token_type\":\"Bearer\",\"expires_in\":\(Int(lifetime))}")
        }
        let web = recorder.group("dicom-web")
        QIDOController(index: store.index, gate: gate, blocking: blocking).addRoutes(to: web)
        WADOController(store: store, policies: policies, gate: gate, codecs: codecs, blocking: blocking).addRoutes(to: web)
        STOWController(ingest: ingest, policies: policies, logger: logger, blocking: blocking).addRoutes(to: web)

        let api = recorder.group("api/v1")
        EventsController(events: events).addRoutes(to: api)
        StatusController(index: store.index, gate: gate, events: events, blocking: blocking).addRoutes(to: api)
        DiagnosticController(store: store, gate: gate, events: events, blocking: blocking).addRoutes(to: api)
        VersionsController(store: store, policies: policies, gate: gate, codecs: codecs, blocking: blocking).addRoutes(to: api)

        let admin = api.group("admin").only(.admin, refusal: "the admin API is for admins")
        TierController(tiering: tiering, loop: tieringLoop, blocking: blocking).addRoutes(to: admin)
        return recorder.routes
    }

    /// Plain HTTP or TLS, as network.yaml says; neither configured refuses to start (patient data in clear text).
    private static func serverBuilder(_ network: NetworkPolicy) throws -> (HTTPServerBuilder, String) {
        // A client that sends nothing for a minute is cut off rather than holding a connection forever.
        let http1 = HTTPServerBuilder.http1(configuration: .init(idleTimeout: .seconds(60)))
        if let tls = network.tls {
            do {
                let certificates = try NIOSSLCertificate.fromPEMFile(tls.certificate).map { NIOSSLCertificateSource.certificate($0) }
                let key = try NIOSSLPrivateKey(file: tls.key, format: .pem)
                return (try .tls(http1, tlsConfiguration: .makeServerConfiguration(certificateChain: certificates, privateKey: .privateKey(key))), "https")
            } catch {
                throw ConfigurationProblem(description: "network.yaml http_tls: cannot use \(tls.certificate) and \(tls.key): \(error)")
            }
        }
        guard network.httpPlain else {
            throw ConfigurationProblem(description: "network.yaml names no http_tls certificate and key, and http_plain is not true: "
                                       + "the HTTP service would expose patient data unencrypted, so it does not start")
        }
        return (http1, "http")
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

    /// A value as JSON in the one convention (`StrataJSON`).
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try StrataJSON.encoder.encode(value))))
    }

    static func json(_ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
