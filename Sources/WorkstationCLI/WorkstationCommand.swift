import ArgumentParser
import Codecs
import CommandLineSupport
import Workstation

@main
struct WorkstationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workstation", abstract: "The Strata reading client.",
        subcommands: [Settings.self, Find.self, Pull.self, Render.self, Status.self, Notes.self, Annotate.self, Report.self, Watch.self])
}
