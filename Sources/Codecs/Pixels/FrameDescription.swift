import DICOM

/// The Image Pixel module of an image (PS3.3 C.7.6.3): what one frame's samples look like.
public struct FrameDescription: Sendable, Equatable {
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

    /// Reads the description from a dataset; nil when it has no (usable) image pixel module.
    public init?(_ dataSet: DataSet) {
        guard let rows = dataSet.int(.rows), let columns = dataSet.int(.columns), rows > 0, columns > 0,
              let bitsAllocated = dataSet.int(.bitsAllocated), [8, 16].contains(bitsAllocated) else { return nil }
        let samples = dataSet.int(.samplesPerPixel) ?? 1
        guard samples == 1 || samples == 3 else { return nil }
        let bitsStored = dataSet.int(.bitsStored) ?? bitsAllocated
        guard bitsStored >= 1, bitsStored <= bitsAllocated else { return nil }
        self.init(rows: rows, columns: columns, samplesPerPixel: samples, bitsAllocated: bitsAllocated, bitsStored: bitsStored,
                  signed: dataSet.int(.pixelRepresentation) == 1, photometric: dataSet.string(.photometricInterpretation) ?? "MONOCHROME2",
                  planar: dataSet.int(.planarConfiguration) == 1, frames: max(1, dataSet.int(.numberOfFrames) ?? 1))
    }

    public var bytesPerSample: Int { bitsAllocated / 8 }
    public var samplesPerFrame: Int { rows * columns * samplesPerPixel }
    public var bytesPerFrame: Int { samplesPerFrame * bytesPerSample }
}

/// Why pixel data could not be encoded or decoded; the message says what and why.
public enum CodecError: Error, Equatable, Sendable, CustomStringConvertible {
    case unsupported(String)
    case corrupt(String)
    case library(String)
    case mismatch(String)

    public var description: String {
        switch self {
        case let .unsupported(what): return "unsupported: \(what)"
        case let .corrupt(what): return "corrupt compressed data: \(what)"
        case let .library(what): return "codec library error: \(what)"
        case let .mismatch(what): return "verification failed: \(what)"
        }
    }
}
