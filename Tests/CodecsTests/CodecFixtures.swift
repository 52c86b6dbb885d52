import Codecs
import DICOM
import Foundation

/// Decoded frames of the repository's fixtures.
enum CodecFixtures {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static func file(_ name: String) throws -> DicomFile {
        try DicomFile.read(Array(Data(contentsOf: root.appendingPathComponent("valid").appendingPathComponent(name))))
    }

    static func frames(_ name: String) throws -> PixelFrames {
        let file = try file(name)
        return try PixelFrames(file.dataSet, syntax: file.transferSyntax)
    }

    /// pydicom's pixels of a fixture (`Fixtures/expected`, written by make_expected_pixels.py).
    static func expected(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: root.appendingPathComponent("expected").appendingPathComponent(name + ".pixels")))
    }
}
