import ArgumentParser

@main
struct Pacs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pacs",
        abstract: "Strata: a mini-PACS with versions, progressive delivery and tiered storage.",
        subcommands: [Serve.self, Import.self, List.self, Versions.self, Derive.self, Verify.self, Dump.self, PolicyCommand.self, AECommand.self, UserCommand.self, StatusCommand.self, TierCommand.self, ConflictCommand.self, CodecWorkerCommand.self]
    )
}
