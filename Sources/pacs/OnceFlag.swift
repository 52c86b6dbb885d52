import ArgumentParser
import CMemory
import DIMSE
import Foundation
import Logging
import NIOCore
import NIOPosix
import PacsServer
import ServiceLifecycle

/// True exactly once.
final class OnceFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var claimed = false

    func claim() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if claimed { return false }
        claimed = true
        return true
    }
}
