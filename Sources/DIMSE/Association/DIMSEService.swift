import DICOM

/// Serves the requests arriving on an association, one at a time, in order.
public protocol DIMSEService: Sendable {
    func handle(_ request: DIMSEMessage, on association: Association) async
    /// Asked on the event loop when a request's command has arrived and its dataset follows: an observer returned
    /// here sees the dataset's fragments as they arrive, and travels with the message (`DIMSEMessage.observer`).
    func observer(for command: DataSet, in context: Association.Context, on association: Association) -> DataSetObserver?
}

extension DIMSEService {
    public func observer(for command: DataSet, in context: Association.Context, on association: Association) -> DataSetObserver? { nil }
}
