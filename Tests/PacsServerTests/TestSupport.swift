import Foundation
@testable import PacsServer

/// Paths into the repository and a fresh data folder per test.
enum Repository {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let policies = root.appendingPathComponent("Policies")
    static let fixtures = root.appendingPathComponent("Fixtures")

    static func fixture(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: fixtures.appendingPathComponent("valid").appendingPathComponent(name)))
    }

    static func temporaryFolder() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("strata-\(UUID().uuidString)", isDirectory: true)
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func openStore() throws -> DataStore {
        let policies = try Policies.load(from: policies).get()
        return try DataStore(folder: temporaryFolder(), tiering: policies.tiering)
    }

    /// A copy of the shipped policy folder that a test may edit.
    static func policyCopy() throws -> URL {
        let folder = temporaryFolder()
        for name in Policies.fileNames {
            try FileManager.default.copyItem(at: policies.appendingPathComponent(name), to: folder.appendingPathComponent(name))
        }
        return folder
    }
}
