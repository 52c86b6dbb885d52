
/// A stored file and the instance it belongs to.
public struct IndexedFile: Sendable, Equatable {
    public var sopInstanceUID: String
    public var file: StoredFile
}
