import DIMSE
import Logging
import NIOCore
import ServiceLifecycle

/// The DICOM listener, one of the server's services: associations are accepted until the server stops; then no new
/// one is, and the requests already received are answered (their responses follow their durable storage).
public struct DICOMListener: Service {
    let service: PacsDIMSEService
    let channel: Channel
    let logger: Logger

    /// Binds the port before the server's services start, so a port in use stops the server at once and the DICOM
    /// port accepts by the time the HTTP side says it is listening.
    public static func bind(service: PacsDIMSEService, host: String, port: Int, logger: Logger) async throws -> DICOMListener {
        let channel = try await DICOMNetwork.listen(host: host, port: port, group: service.group, negotiator: service.negotiator,
                                                    service: service, logger: logger)
        logger.info("DICOM listening on \(host):\(channel.localAddress?.port ?? port) as \(service.policies.current.network.aeTitle)")
        return DICOMListener(service: service, channel: channel, logger: logger)
    }

    public func run() async throws {
        try? await gracefulShutdown()
        try? await channel.close()
        await service.drain()
    }
}
