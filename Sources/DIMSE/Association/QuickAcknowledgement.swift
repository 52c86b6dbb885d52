import DICOM
import Logging
import NIOCore
import NIOPosix

/// Acknowledges what was read at once (TCP_QUICKACK after a read), so a peer whose Nagle algorithm holds its next
/// small write until our ACK is never left waiting for a delayed ACK (~40 ms a message).
/// Only small reads need it: the kernel acknowledges a read of more than one full segment itself (a segment is at
/// most 64 KB, the loopback's). Leaving the option out after large reads saves a system call and extra ACKs
/// (four associations of CT C-STOREs: ~2% faster).
final class QuickAcknowledgement: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    #if os(Linux)
    private static let option = ChannelOptions.Types.SocketOption(level: SocketOptionLevel(IPPROTO_TCP), name: SocketOptionName(TCP_QUICKACK))
    #endif
    /// Reads of this size or more are acknowledged by the kernel as they are read (more than one segment).
    static let selfAcknowledgedRead = 2 << 16

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        #if os(Linux)
        if unwrapInboundIn(data).readableBytes < Self.selfAcknowledgedRead {
            try? context.channel.syncOptions?.setOption(Self.option, value: 1)
        }
        #endif
        context.fireChannelRead(data)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
