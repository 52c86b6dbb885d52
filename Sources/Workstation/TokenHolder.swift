import AsyncHTTPClient
import Foundation
import NIOHTTP1

final class TokenHolder: @unchecked Sendable {
    private let lock = NSLock()
    private var value: String?
    private var expires = Date.distantPast

    var current: String? { lock.withLock { expires > Date() ? value : nil } }

    func set(_ token: String, lifetime: Double) {
        // Renewed a little early, so a request never arrives with a token that just expired.
        lock.withLock { value = token; expires = Date().addingTimeInterval(max(1, lifetime - 5)) }
    }

    func clear() { lock.withLock { value = nil } }
}
