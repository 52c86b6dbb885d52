import Codecs

/// What a codec worker is asked to do with the files sent along (see `CodecWork` for each).
public enum CodecRequest: Codable, Sendable {
    /// The versions of the original (file 0) not yet in `existing` ("V2/j2k", ...), as `policy` says.
    case derive(existing: [String], policy: CompressionPolicy)
    /// Whether a received object (file 1) is the instance stored under its SOP Instance UID (file 0).
    case compare
    /// The dataset of a file (file 0) with its pixel data decoded to native form, encoded in `syntax`.
    case decompress(syntax: String)
    /// Frames of a file (file 0), numbered from 1, as native cells.
    case frames(numbers: [Int])
    /// The first frame of a file (file 0) as a screen shows it: Modality LUT, VOI window, colours.
    case render(window: Renderer.Window?)
}
