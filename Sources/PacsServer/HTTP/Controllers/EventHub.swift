import Foundation
import Hummingbird
import NIOCore
import ServiceLifecycle
import Synchronization

/// Server-sent events (`GET /api/v1/events`): a study is announced to each listening user when something
/// may now be fetched by them (its versions were made, or its status changed what their role may have).
/// Announcements are gathered for a second, so a series arriving is one event, not hundreds.
public final class EventHub: Service, Sendable {
    struct Announcement: Sendable {
        var study: String
        var reason: String
    }

    /// What a listener hears of an announced study.
    struct Event: Encodable {
        var study: String
        var status: DiagnosisStatus
        var statusName: String
        var allowed: [String]
        var reason: String
    }

    private let state = Mutex<State>(State())
    private struct State {
        var listeners: [UUID: AsyncStream<Announcement>.Continuation] = [:]
        /// Set when the server stops: streams end, and one opened later ends at once.
        var closed = false
        var pendingInstances: Set<String> = []
        var pendingStudies: [String: String] = [:]
        var flushScheduled = false
    }

    let store: DataStore
    let gate: AccessGate
    let blocking: BlockingPool

    public init(store: DataStore, gate: AccessGate, blocking: BlockingPool) {
        self.store = store
        self.gate = gate
        self.blocking = blocking
    }

    /// An instance's versions were made.
    public func instanceDerived(_ sop: String) {
        schedule { $0.pendingInstances.insert(sop) }
    }

    /// A study's status (or diagnostic information) changed.
    func studyChanged(_ study: String, reason: String) {
        schedule { $0.pendingStudies[study] = reason }
    }

    private func schedule(_ change: (inout State) -> Void) {
        let start = state.withLock { state -> Bool in
            guard !state.listeners.isEmpty else { return false }  // nobody listens: nothing to gather
            change(&state)
            if state.flushScheduled { return false }
            state.flushScheduled = true
            return true
        }
        guard start else { return }
        Task.detached { [self] in
            try? await Task.sleep(for: .seconds(1))
            await flush()
        }
    }

    private func flush() async {
        let (instances, studies, listeners) = state.withLock { state in
            defer {
                state.pendingInstances = []
                state.pendingStudies = [:]
                state.flushScheduled = false
            }
            return (state.pendingInstances, state.pendingStudies, Array(state.listeners.values))
        }
        var announcements = studies
        if !instances.isEmpty {
            var wanted = IndexQuery()
            wanted.sopInstanceUIDs = Array(instances)
            let index = store.index, query = wanted, blocking = self.blocking
            let found = (try? await blocking.run { try index.instances(matching: query) }) ?? []
            for study in Set(found.map(\.studyInstanceUID)) where announcements[study] == nil { announcements[study] = "images ready" }
        }
        for (study, reason) in announcements {
            for listener in listeners { listener.yield(Announcement(study: study, reason: reason)) }
        }
    }

    /// One of the server's services: when the server stops, it ends every event stream before the HTTP side drains.
    public func run() async throws {
        try? await gracefulShutdown()
        close()
    }

    /// Ends every event stream (each response finishes cleanly), so that a stopping server's HTTP side has only
    /// requests that end left to finish.
    func close() {
        let listeners = state.withLock { state in
            state.closed = true
            return Array(state.listeners.values)
        }
        listeners.forEach { $0.finish() }
    }

    /// The event stream for one caller: each announced study they may now fetch something of, with what.
    func stream(for caller: Caller) -> Response {
        let id = UUID()
        let (announcements, continuation) = AsyncStream.makeStream(of: Announcement.self)
        state.withLock { state in
            if state.closed { continuation.finish() } else { state.listeners[id] = continuation }
        }
        let gate = self.gate, blocking = self.blocking
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        return Response(status: .ok, headers: headers, body: ResponseBody { [self] writer in
            defer { self.state.withLock { _ = $0.listeners.removeValue(forKey: id) } }
            try await writer.write(ByteBuffer(string: ": connected\n\n"))
            for await announcement in announcements {
                // A study whose status cannot be read is announced to nobody; one hidden from the caller not to the caller.
                guard let status = try? await blocking.run({ try gate.status(of: announcement.study, for: caller) }) else { continue }
                let allowed = gate.allowedVersions(caller, status: status)
                guard !allowed.isEmpty else { continue }
                let event = Event(study: announcement.study, status: status, statusName: status.name, allowed: allowed, reason: announcement.reason)
                let data = try StrataJSON.encoder.encode(event)
                try await writer.write(ByteBuffer(string: "event: study\ndata: \(String(decoding: data, as: UTF8.self))\n\n"))
            }
            try await writer.finish(nil)
        })
    }
}
