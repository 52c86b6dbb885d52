import DICOM
import Logging
import NIOCore
import NIOPosix

/// Listening for associations and opening them, over SwiftNIO.
public enum DICOMNetwork {
    /// The largest P-DATA-TF variable field we accept, advertised in every negotiation.
    public static let maximumReceiveLength: UInt32 = 256 << 10
    /// Associations silent for this long are aborted (a peer that never releases holds nothing forever).
    public static let idleTimeout = TimeAmount.minutes(10)

    /// Starts accepting associations on `host:port`; returns the bound listening channel.
    public static func listen(host: String, port: Int, group: EventLoopGroup, negotiator: AssociationNegotiator,
                              service: DIMSEService, logger: Logger) async throws -> Channel {
        DataDictionary.load()
        return try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
            // Reads as large as a whole P-DATA-TF when the data is there (an image arrives in fewer, larger reads).
            .childChannelOption(ChannelOptions.recvAllocator,
                                value: AdaptiveRecvByteBufferAllocator(minimum: 4096, initial: 65536, maximum: Int(maximumReceiveLength) + 64 << 10))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandlers(
                        IdleStateHandler(readTimeout: idleTimeout),
                        QuickAcknowledgement(),
                        ByteToMessageHandler(PDUDecoder(maximumLength: Int(maximumReceiveLength) + 64 << 10)),
                        MessageToByteHandler(PDUEncoder()),
                        AssociationHandler(role: .acceptor(negotiator, service), logger: logger))
                }
            }
            .bind(host: host, port: port).get()
    }

    /// Opens an association as requestor (C-MOVE's sub-association, or a client).
    public static func connect(host: String, port: Int, request: AssociateRequest, group: EventLoopGroup,
                               logger: Logger) async throws -> Association {
        let promise = group.next().makePromise(of: Association.self)
        do {
            _ = try await ClientBootstrap(group: group)
                .channelOption(ChannelOptions.tcpOption(.tcp_nodelay), value: 1)
                .connectTimeout(.seconds(10))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandlers(
                            ByteToMessageHandler(PDUDecoder(maximumLength: Int(maximumReceiveLength) + 64 << 10)),
                            MessageToByteHandler(PDUEncoder()),
                            AssociationHandler(role: .requestor(request, promise), logger: logger))
                    }
                }
                .connect(host: host, port: port).get()
        } catch {
            promise.fail(error)
        }
        return try await promise.futureResult.get()
    }
}
