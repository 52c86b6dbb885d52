import DICOM
import Foundation

/// One stored copy of one version of an instance, as the index records it.
public struct StoredFile: Sendable, Equatable, Codable {
    public var version: String
    /// Which representation of the version: `original` for the bytes as received, `jpegls` for V1's
    /// lossless copy, `j2k` for lossy versions.
    public var variant: String
    public var tier: String
    /// Relative to the tier's folder.
    public var path: String
    public var size: Int
    public var sha256: String
    public var transferSyntaxUID: String
    /// The derived object's own SOP Instance UID (lossy versions); nil where it is the instance's.
    public var sopInstanceUID: String?
    public var purpose: String?
    /// Image quality relative to the original, percent.
    public var quality: Int?
    public var targetRatio: Double?
    public var achievedRatio: Double?
    /// The worst frame's PSNR in dB; nil for bit-exact versions.
    public var psnr: Double?
    public var maxError: Int?
    /// Where each frame's data (or codestream) lies in the file, with its resolution levels.
    public var frames: [FrameLayout]?
    /// Bytes before the Pixel Data element.
    public var headerLength: Int?

    public init(version: String, variant: String, tier: String, path: String, size: Int, sha256: String, transferSyntaxUID: String,
                sopInstanceUID: String? = nil, purpose: String? = nil, quality: Int? = nil, targetRatio: Double? = nil,
                achievedRatio: Double? = nil, psnr: Double? = nil, maxError: Int? = nil, frames: [FrameLayout]? = nil,
                headerLength: Int? = nil) {
        self.version = version
        self.variant = variant
        self.tier = tier
        self.path = path
        self.size = size
        self.sha256 = sha256
        self.transferSyntaxUID = transferSyntaxUID
        self.sopInstanceUID = sopInstanceUID
        self.purpose = purpose
        self.quality = quality
        self.targetRatio = targetRatio
        self.achievedRatio = achievedRatio
        self.psnr = psnr
        self.maxError = maxError
        self.frames = frames
        self.headerLength = headerLength
    }
}
