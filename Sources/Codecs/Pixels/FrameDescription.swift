import DICOM
import Foundation

/// The Image Pixel module of an image (PS3.3 C.7.6.3): what one frame's samples look like.
public struct FrameDescription: Sendable, Equatable, Codable {
    public var rows: Int
    public var columns: Int
    public var samplesPerPixel: Int
    public var bitsAllocated: Int
    public var bitsStored: Int
    /// Pixel Representation 1: two's complement samples.
    public var signed: Bool
    public var photometric: String
    /// Planar Configuration 1: colour planes one after another (native data only).
    public var planar: Bool
    public var frames: Int

    public init(rows: Int, columns: Int, samplesPerPixel: Int = 1, bitsAllocated: Int, bitsStored: Int, signed: Bool = false,
                photometric: String = "MONOCHROME2", planar: Bool = false, frames: Int = 1) {
        self.rows = rows
        self.columns = columns
        self.samplesPerPixel = samplesPerPixel
        self.bitsAllocated = bitsAllocated
        self.bitsStored = bitsStored
        self.signed = signed
        self.photometric = photometric
        self.planar = planar
        self.frames = frames
    }

    /// Reads the description from a dataset; nil when it has no image pixel module these codecs work with.
    public init?(_ dataSet: DataSet) {
        try? self.init(validating: dataSet)
    }

    /// Reads the description from a dataset, or says why its pixels are not ones these codecs work with.
    public init(validating dataSet: DataSet) throws(CodecError) {
        guard let rows = dataSet.int(.rows), let columns = dataSet.int(.columns), rows > 0, columns > 0,
              let bitsAllocated = dataSet.int(.bitsAllocated) else {
            throw .unsupported("no image pixel module (Rows, Columns, Bits Allocated)")
        }
        guard [8, 16].contains(bitsAllocated) else {
            throw .unsupported(bitsAllocated == 1 ? "a 1-bit (binary) image" : "\(bitsAllocated)-bit cells (the codecs here code 8- and 16-bit samples)")
        }
        let samples = dataSet.int(.samplesPerPixel) ?? 1
        guard samples == 1 || samples == 3 else { throw .unsupported("\(samples) samples per pixel (1 or 3 are coded)") }
        let bitsStored = dataSet.int(.bitsStored) ?? bitsAllocated
        guard bitsStored >= 1, bitsStored <= bitsAllocated else {
            throw .unsupported("Bits Stored \(bitsStored) with Bits Allocated \(bitsAllocated)")
        }
        var photometric = dataSet.string(.photometricInterpretation) ?? "MONOCHROME2"
        photometric = photometric.trimmingCharacters(in: .whitespaces)
        self.init(rows: rows, columns: columns, samplesPerPixel: samples, bitsAllocated: bitsAllocated, bitsStored: bitsStored,
                  signed: dataSet.int(.pixelRepresentation) == 1, photometric: photometric,
                  planar: dataSet.int(.planarConfiguration) == 1, frames: max(1, dataSet.int(.numberOfFrames) ?? 1))
    }

    public var bytesPerSample: Int { bitsAllocated / 8 }
    public var samplesPerFrame: Int { rows * columns * samplesPerPixel }
    public var bytesPerFrame: Int { samplesPerFrame * bytesPerSample }
    /// Native YBR_FULL_422 holds two luminance samples and one pair of chrominance samples per two pixels of a row.
    public var chromaSubsampled: Bool { photometric == "YBR_FULL_422" && samplesPerPixel == 3 }
    /// A native frame's size as stored: smaller than `bytesPerFrame` when the chrominance is subsampled.
    public var storedBytesPerFrame: Int { chromaSubsampled ? rows * columns * 2 * bytesPerSample : bytesPerFrame }
}
