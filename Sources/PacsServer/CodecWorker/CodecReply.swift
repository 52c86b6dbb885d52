import Codecs

/// A codec worker's answer to a `CodecRequest`, with the files or buffers it names sent along.
public enum CodecReply: Codable, Sendable {
    /// The versions made (their bytes follow in the same order) and why any could not be made.
    case derived(files: [StoredFile], missing: [String: String])
    /// Nil when the received object is the stored instance, else how it differs.
    case compared(difference: String?)
    /// The decoded dataset follows.
    case decompressed
    /// The frames asked for follow.
    case frames
    /// The image's 8-bit pixels follow.
    case rendered(width: Int, height: Int, components: Int)
    /// The work could not be done: the codec's own error.
    case failed(CodecError)
}
