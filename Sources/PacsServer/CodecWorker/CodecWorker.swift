import DICOM
import Foundation
import Glibc

/// The codec worker process (`pacs codec-worker`): answers requests on standard output until its standard input
/// closes. It holds nothing but the work in hand: the server that started it keeps the index and the files.
public enum CodecWorker {
    public static func serve() {
        let requests = CodecChannel(descriptor: STDIN_FILENO), replies = CodecChannel(descriptor: STDOUT_FILENO)
        let fault = TestFault(ProcessInfo.processInfo.environment["STRATA_TEST_CODEC_FAULT"])
        while let (request, files) = try? requests.receive(CodecRequest.self) {
            fault?.strike(on: request, files)
            let (reply, out) = CodecWork.perform(request, files)
            do {
                try replies.send(reply, files: out)
            } catch {
                return
            }
        }
    }

    /// A test-only fault (environment `STRATA_TEST_CODEC_FAULT=crash:UID` or `hang:UID`): the worker deriving the
    /// versions of the instance with that SOP Instance UID dies of SIGSEGV, or never answers, as a codec that
    /// crashed or looped on that image would. Nothing sets it but the tests.
    struct TestFault {
        let hang: Bool
        let sopInstanceUID: String

        init?(_ setting: String?) {
            guard let setting, let colon = setting.firstIndex(of: ":") else { return nil }
            let kind = setting[..<colon]
            guard kind == "crash" || kind == "hang" else { return nil }
            hang = kind == "hang"
            sopInstanceUID = String(setting[setting.index(after: colon)...])
        }

        func strike(on request: CodecRequest, _ files: [[UInt8]]) {
            guard case .derive = request, let original = files.first,
                  (try? DicomFile.read(original, skippingPixelData: true))?.dataSet.string(.sopInstanceUID) == sopInstanceUID else { return }
            if hang {
                while true { sleep(3600) }
            }
            raise(SIGSEGV)
        }
    }
}
