import DICOM
import Logging
import NIOCore

/// The upper-layer state machine of one association (PS3.8 9.2) for either side: negotiation, message
/// assembly, release and abort. Requests go to the service in order on their own task; responses to our
/// own requests and C-CANCELs are routed to the association at once. Any protocol fault aborts only
/// this association.
final class AssociationHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = PDU
    typealias OutboundOut = PDU

    enum Role {
        case acceptor(AssociationNegotiator, DIMSEService)
        case requestor(AssociateRequest, EventLoopPromise<Association>)
    }

    private enum State {
        case awaitingAssociation
        case established(Association, MessageAssembler, AsyncStream<DIMSEMessage>.Continuation?)
        case closed
    }

    static let artimTimeout = TimeAmount.seconds(30)

    private let role: Role
    private let logger: Logger
    private var state = State.awaitingAssociation
    private var artim: Scheduled<Void>?

    init(role: Role, logger: Logger) {
        self.role = role
        self.logger = logger
    }

    func channelActive(context: ChannelHandlerContext) {
        if case let .requestor(request, _) = role {
            context.writeAndFlush(wrapOutboundOut(.associateRequest(request)), promise: nil)
        }
        // ARTIM (PS3.8 9.1.5): an association that is not negotiated in time is dropped.
        let channel = context.channel
        let logger = self.logger
        artim = context.eventLoop.scheduleTask(in: Self.artimTimeout) {
            logger.warning("no association negotiated within the ARTIM timeout; closing")
            channel.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let pdu = unwrapInboundIn(data)
        switch (state, pdu) {
        case let (.awaitingAssociation, .associateRequest(request)):
            guard case let .acceptor(negotiator, service) = role else { return abort(context, .unexpectedPDU, "unexpected A-ASSOCIATE-RQ") }
            artim?.cancel()
            switch negotiator.negotiate(request) {
            case let .failure(reject):
                logger.notice("association rejected", metadata: ["calling": "\(request.callingAE)", "called": "\(request.calledAE)", "reason": "\(reject)"])
                context.writeAndFlush(wrapOutboundOut(.associateReject(reject))).whenComplete { _ in context.close(promise: nil) }
                state = .closed
            case let .success(accept):
                context.writeAndFlush(wrapOutboundOut(.associateAccept(accept)), promise: nil)
                let association = Association(callingAE: request.callingAE, calledAE: request.calledAE,
                                              contexts: Self.accepted(accept.results, proposals: request.contexts),
                                              peerSCPRoles: Set(accept.user.roles.filter(\.scp).map(\.sopClassUID)),
                                              peerMaximumLength: request.user.maximumLength, channel: context.channel)
                let (requests, continuation) = AsyncStream<DIMSEMessage>.makeStream()
                state = .established(association, MessageAssembler(), continuation)
                logger.info("association accepted", metadata: ["calling": "\(request.callingAE)", "contexts": "\(association.contexts.count)"])
                Self.serve(requests, on: association, with: service)
            }
        case let (.awaitingAssociation, .associateAccept(accept)):
            guard case let .requestor(request, promise) = role else { return abort(context, .unexpectedPDU, "unexpected A-ASSOCIATE-AC") }
            artim?.cancel()
            let association = Association(callingAE: request.callingAE, calledAE: request.calledAE,
                                          contexts: Self.accepted(accept.results, proposals: request.contexts),
                                          peerSCPRoles: [], peerMaximumLength: accept.user.maximumLength, channel: context.channel)
            state = .established(association, MessageAssembler(), nil)
            promise.succeed(association)
        case let (.awaitingAssociation, .associateReject(reject)):
            if case let .requestor(_, promise) = role { promise.fail(AssociationError.rejected(reject)) }
            state = .closed
            context.close(promise: nil)
        case (.established(let association, var assembler, let requests), .data(let pdvs)):
            do {
                let service: DIMSEService? = if case let .acceptor(_, service) = role { service } else { nil }
                for pdv in pdvs {
                    guard let message = try assembler.add(pdv, accepted: { association.contexts[$0] != nil },
                                                          observer: { command, id in
                        association.contexts[id].flatMap { service?.observer(for: command, in: $0, on: association) }
                    }) else { continue }
                    route(message, association: association, requests: requests)
                    message.observer?.completed()
                }
                state = .established(association, assembler, requests)
            } catch {
                abort(context, .invalidParameter, "\(error)")
            }
        case let (.established(_, _, requests), .releaseRequest):
            // Requests already received are answered first; then A-RELEASE-RP and close.
            if let requests {
                requests.finish()
            } else {
                context.writeAndFlush(wrapOutboundOut(.releaseResponse)).whenComplete { _ in context.close(promise: nil) }
            }
        case let (.established(association, _, _), .releaseResponse):
            association.releaseConfirmed()
            state = .closed
            context.close(promise: nil)
        case let (_, .abort(abort)):
            logger.notice("association aborted by the peer", metadata: ["source": "\(abort.source)", "reason": "\(abort.reason)"])
            if case let .established(association, _, _) = state { association.closed(AssociationError.aborted(abort)) }
            state = .closed
            context.close(promise: nil)
        default:
            abort(context, .unexpectedPDU, "unexpected \(pdu.name)")
        }
    }

    private func route(_ message: DIMSEMessage, association: Association, requests: AsyncStream<DIMSEMessage>.Continuation?) {
        switch message.commandField {
        case .cCancelRequest?:
            association.cancel(message.respondedMessageID)
        case let field? where field.isResponse:
            association.deliver(response: message)
        default:
            association.opened(message.messageID)
            requests?.yield(message)
        }
    }

    /// Works the association's requests in order; when the peer has asked to release, answers A-RELEASE-RP.
    private static func serve(_ requests: AsyncStream<DIMSEMessage>, on association: Association, with service: DIMSEService) {
        Task {
            for await request in requests {
                await service.handle(request, on: association)
                association.answered(request.messageID)
            }
            if association.channel.isActive {
                try? await association.channel.writeAndFlush(PDU.releaseResponse)
                try? await association.channel.close()
            }
        }
    }

    private static func accepted(_ results: [PresentationContextResult], proposals: [PresentationContextProposal]) -> [Association.Context] {
        results.compactMap { result in
            guard result.outcome == .acceptance, let proposal = proposals.first(where: { $0.id == result.id }),
                  let syntax = TransferSyntax(uid: result.transferSyntax) else { return nil }
            return Association.Context(id: result.id, abstractSyntax: proposal.abstractSyntax, transferSyntax: syntax)
        }
    }

    private func abort(_ context: ChannelHandlerContext, _ abort: Abort, _ reason: String) {
        logger.warning("aborting association: \(reason)", metadata: ["peer": "\(context.remoteAddress.map { "\($0)" } ?? "?")"])
        finish(AssociationError.aborted(abort))
        context.writeAndFlush(wrapOutboundOut(.abort(abort))).whenComplete { _ in context.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        let abort: Abort = (error as? PDUError).map { if case .unknownType = $0 { return .unrecognizedPDU } else { return .invalidParameter } } ?? .invalidParameter
        self.abort(context, abort, "\(error)")
    }

    func channelInactive(context: ChannelHandlerContext) {
        artim?.cancel()
        finish(AssociationError.closed)
        context.fireChannelInactive()
    }

    private func finish(_ error: Error) {
        switch state {
        case let .established(association, _, requests):
            requests?.finish()
            association.closed(error)
        case .awaitingAssociation:
            if case let .requestor(_, promise) = role { promise.fail(error) }
        case .closed:
            break
        }
        state = .closed
    }
}
