import COpenJPEG
import Foundation

/// Collects OpenJPEG's warnings and errors for the error we throw, instead of letting them go to stderr.
/// The codec keeps an unretained pointer to it: its owner keeps it alive until the codec is destroyed.
final class MessageLog {
    private var lines: [String] = []
    var text: String { lines.isEmpty ? "no detail from OpenJPEG" : lines.joined(separator: "; ") }

    func install(on codec: UnsafeMutablePointer<opj_codec_t?>) {
        let box = Unmanaged.passUnretained(self).toOpaque()
        let handler: opj_msg_callback = { message, user in
            guard let message, let user else { return }
            let log = Unmanaged<MessageLog>.fromOpaque(user).takeUnretainedValue()
            log.lines.append(String(cString: message).trimmingCharacters(in: .whitespacesAndNewlines))
        }
        opj_set_error_handler(codec, handler, box)
        opj_set_warning_handler(codec, handler, box)
        opj_set_info_handler(codec, { _, _ in }, nil)
    }
}
