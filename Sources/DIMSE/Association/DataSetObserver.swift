import NIOCore

/// Work done on a dataset on the event loop that received it, alongside the service (a C-STORE's receiver hashes it
/// while the service reads and stages it).
public protocol DataSetObserver: AnyObject, Sendable {
    /// One fragment, in order, on the event loop: keep it short, the rest of the dataset is arriving.
    func received(_ fragment: ByteBuffer)
    /// On the event loop, right after the whole message went to the service: work on the dataset done here runs
    /// alongside the service, while the peer waits for the answer.
    func completed()
}

extension DataSetObserver {
    public func completed() {}
}
