import ArgumentParser

@main
struct WorkstationCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "workstation", abstract: "The Strata reading client.")
}
