import ArgumentParser
import Codecs
import CommandLineSupport
import Workstation

struct Annotate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Attach an annotation to an image: shapes point:X,Y  line:X1,Y1,X2,Y2  ellipse:CX,CY,RX,RY  text:X,Y,words (image pixels).")
    @OptionGroup var connection: Connection
    @Argument(help: "The Study Instance UID.") var study: String
    @Option(help: "The SOP Instance UID of the image.") var instance: String
    @Option(help: "The frame (multi-frame images).") var frame: Int?
    @Argument(help: "The shapes.") var shapes: [String]

    func run() async throws {
        let parsed = try shapes.map { text -> [String: Any] in
            guard let shape = Diagnosis.shape(text) else { throw ValidationError("\(text) is not a shape (point:X,Y, line:..., ellipse:CX,CY,RX,RY, text:X,Y,words)") }
            return shape
        }
        let body = try await withClient(connection) { try await Diagnosis(client: $0).annotate(study, instance: instance, frame: frame, shapes: parsed) }
        print(String(decoding: body, as: UTF8.self))
    }
}
