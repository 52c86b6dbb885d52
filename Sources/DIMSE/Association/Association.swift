import DICOM
import Foundation
import NIOCore

/// An established association: what was negotiated, and how to send messages and await responses on it.
/// Shared by the channel handler (which delivers responses and cancels) and the task serving requests.
public final class Association: @unchecked Sendable {
    public struct Context: Sendable, Equatable {
        public var id: UInt8
        public var abstractSyntax: String
        public var transferSyntax: TransferSyntax
    }

    public let callingAE: String
    public let calledAE: String
    /// Accepted presentation contexts by ID.
    public let contexts: [UInt8: Context]
    /// SOP classes for which the peer accepted to act as SCP on this association (C-GET sub-operations).
    public let peerSCPRoles: Set<String>
    /// The largest P-DATA-TF variable field the peer accepts (0: no limit).
    let peerMaximumLength: Int
    let channel: Channel

    private let lock = NSLock()
    private var waiting: [UInt16: CheckedContinuation<DIMSEMessage, Error>] = [:]
    private var cancelled: Set<UInt16> = []
    /// Requests received and not yet answered: only these can be cancelled.
    private var open: Set<UInt16> = []
    private var lastMessageID: UInt16 = 0
    private var release: CheckedContinuation<Void, Error>?

    init(callingAE: String, calledAE: String, contexts: [Context], peerSCPRoles: Set<String>, peerMaximumLength: UInt32, channel: Channel) {
        self.callingAE = callingAE
        self.calledAE = calledAE
        self.contexts = Dictionary(uniqueKeysWithValues: contexts.map { ($0.id, $0) })
        self.peerSCPRoles = peerSCPRoles
        self.peerMaximumLength = Int(peerMaximumLength)
        self.channel = channel
    }

    /// The accepted context for an abstract syntax, preferring the given transfer syntax.
    public func context(for abstractSyntax: String, preferring syntax: TransferSyntax? = nil) -> Context? {
        let candidates = contexts.values.filter { $0.abstractSyntax == abstractSyntax }.sorted { $0.id < $1.id }
        return candidates.first { $0.transferSyntax == syntax } ?? candidates.first
    }

    public func nextMessageID() -> UInt16 {
        lock.withLock {
            lastMessageID &+= 1
            return lastMessageID
        }
    }

    public func isCancelled(_ messageID: UInt16) -> Bool {
        lock.withLock { cancelled.contains(messageID) }
    }

    /// Sends a message, split into P-DATA-TF PDUs no larger than the peer accepts.
    public func send(_ message: DIMSEMessage) async throws {
        try await write(message).get()
    }

    /// Queues a message for sending from any thread and returns at once (the future completes when it is written):
    /// a service answering from a blocking thread sends its response without first hopping back to its task.
    @discardableResult
    public func write(_ message: DIMSEMessage) throws -> EventLoopFuture<Void> {
        let chunk = peerMaximumLength == 0 ? 1 << 20 : max(64, peerMaximumLength - 6)
        var pdus: [PDU] = []
        func fragments(_ bytes: [UInt8], command: Bool) {
            let buffer = ByteBuffer(bytes: bytes)
            var start = 0
            repeat {
                let end = min(bytes.count, start + chunk)
                pdus.append(.data([PDV(contextID: message.contextID, isCommand: command, isLast: end == bytes.count,
                                       data: buffer.getSlice(at: start, length: end - start)!)]))
                start = end
            } while start < bytes.count
        }
        fragments(try message.encodedCommand(), command: true)
        if let dataSet = message.dataSet { fragments(dataSet, command: false) }
        let last = pdus.removeLast()
        for pdu in pdus { channel.write(pdu, promise: nil) }
        return channel.writeAndFlush(last)
    }

    /// Sends a request and waits for its (final) response.
    public func request(_ message: DIMSEMessage) async throws -> DIMSEMessage {
        try await withCheckedThrowingContinuation { continuation in
            lock.withLock { waiting[message.messageID] = continuation }
            Task {
                do {
                    try await send(message)
                } catch {
                    lock.withLock { waiting.removeValue(forKey: message.messageID) }?.resume(throwing: error)
                }
            }
        }
    }

    /// Releases the association (as requestor) and waits for the peer's A-RELEASE-RP.
    public func release() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            lock.withLock { release = continuation }
            channel.writeAndFlush(PDU.releaseRequest, promise: nil)
        }
    }

    /// Ends the association at once with A-ABORT.
    public func abort() {
        channel.writeAndFlush(PDU.abort(.user)).whenComplete { [channel] _ in channel.close(promise: nil) }
    }

    // MARK: Called by the channel handler

    func deliver(response: DIMSEMessage) {
        // Pending (0xFF00/0xFF01) responses of our own requests are not awaited separately.
        guard response.status != Status.pending, response.status != 0xFF01 else { return }
        lock.withLock { waiting.removeValue(forKey: response.respondedMessageID) }?.resume(returning: response)
    }

    /// A C-CANCEL for a request that is not open (already answered) is ignored, so it cannot cancel a later
    /// request that reuses the Message ID.
    func cancel(_ messageID: UInt16) {
        lock.withLock {
            if open.contains(messageID) { cancelled.insert(messageID) }
        }
    }

    func opened(_ messageID: UInt16) {
        _ = lock.withLock { open.insert(messageID) }
    }

    func answered(_ messageID: UInt16) {
        lock.withLock {
            open.remove(messageID)
            cancelled.remove(messageID)
        }
    }

    func releaseConfirmed() {
        lock.withLock { () -> CheckedContinuation<Void, Error>? in defer { release = nil }; return release }?.resume()
    }

    func closed(_ error: Error) {
        let (pending, releasing) = lock.withLock { () -> ([CheckedContinuation<DIMSEMessage, Error>], CheckedContinuation<Void, Error>?) in
            defer { waiting = [:]; release = nil }
            return (Array(waiting.values), release)
        }
        pending.forEach { $0.resume(throwing: error) }
        releasing?.resume(throwing: error)
    }
}
