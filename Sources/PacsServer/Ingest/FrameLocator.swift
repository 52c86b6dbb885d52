import Codecs
import DICOM

/// Where an original's frames lie in its file, recorded at ingest so that a frame can be served by reading
/// just its bytes: native little-endian interleaved frames one after another, or one fragment per frame.
/// Taken from where the reader found the pixel data, so the pixels need not have been copied out.
enum FrameLocator {
    static func layout(of file: DicomFile) -> (frames: [FrameLayout]?, headerLength: Int?) {
        guard let location = file.pixelDataLocation else { return (nil, nil) }
        guard let description = FrameDescription(file.dataSet) else { return (nil, location.elementOffset) }
        if file.transferSyntax.encapsulated {
            guard location.fragmentOffsets.count == description.frames else { return (nil, location.elementOffset) }
            let frames = zip(location.fragmentOffsets, location.fragmentLengths).map { FrameLayout(offset: $0, length: $1) }
            return (frames, location.elementOffset)
        }
        let size = description.storedBytesPerFrame
        guard file.transferSyntax.littleEndian, !description.planar, location.valueLength >= size * description.frames else {
            return (nil, location.elementOffset)
        }
        let frames = (0..<description.frames).map { FrameLayout(offset: location.valueOffset + $0 * size, length: size) }
        return (frames, location.elementOffset)
    }
}
