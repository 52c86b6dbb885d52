import ArgumentParser
import PacsServer

/// `pacs codec-worker`: the process the server and `pacs import`/`derive` start for codec work (not for people).
struct CodecWorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "codec-worker", abstract: "Answer codec work on standard input and output (started by pacs itself).",
        shouldDisplay: false)

    func run() {
        CodecWorker.serve()
    }
}
