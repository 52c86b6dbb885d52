import Codecs
import DICOM
import Foundation

/// `strata-bench FILE REPS RATIO...`: times Strata's codec calls on one image the way bench/codec_baseline.c
/// times the bare libraries (best of REPS, milliseconds), and writes the frame as raw little-endian
/// samples to FILE.raw for the C program.
@main
struct StrataBench {
    static func main() throws {
        let arguments = CommandLine.arguments
        guard arguments.count >= 4, let reps = Int(arguments[2]) else {
            FileHandle.standardError.write(Data("usage: strata-bench FILE REPS RATIO...\n".utf8))
            exit(2)
        }
        let file = try DicomFile.read(contentsOf: URL(fileURLWithPath: arguments[1]))
        let image = try PixelFrames(file.dataSet, syntax: file.transferSyntax)
        let frame = image.frames[0]
        let description = image.description
        try Data(frame).write(to: URL(fileURLWithPath: arguments[1] + ".raw"))
        print("image \(description.columns) \(description.rows) \(description.bitsStored) \(description.signed ? 1 : 0)")

        func best(_ body: () throws -> Int) rethrows -> (Double, Int) {
            var fastest = Double.infinity
            var size = 0
            for _ in 0..<reps {
                let start = DispatchTime.now().uptimeNanoseconds
                size = try body()
                fastest = min(fastest, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
            }
            return (fastest, size)
        }
        let (jlsTime, jlsSize) = try best { try JPEGLS.encode(frame, description).count }
        print(String(format: "jpegls %.2f ms %d bytes", jlsTime, jlsSize))
        for ratio in arguments[3...].compactMap(Double.init) {
            let (time, size) = try best { try JPEG2000.encode(frame, description, .init(ratio: ratio)).count }
            print(String(format: "j2k:%g %.2f ms %d bytes", ratio, time, size))
        }
    }
}
