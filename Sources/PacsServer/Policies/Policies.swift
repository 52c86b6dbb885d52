import Foundation
import Tiering

/// Every policy the server runs by, loaded together from a policy folder and validated as one.
public struct Policies: Sendable, Equatable {
    public var compression: CompressionPolicy
    public var access: AccessPolicy
    public var tiering: TieringPolicy
    public var network: NetworkPolicy
    public var users: UsersPolicy
    public var delivery: DeliveryPolicy

    public static let fileNames = ["compression.yaml", "access.yaml", "tiering.yaml", "network.yaml", "users.yaml", "delivery.yaml"]

    /// Reads and validates a policy folder; on any problem returns all of them and no policies.
    public static func load(from folder: URL) -> Result<Policies, PolicyErrors> {
        let log = ProblemLog()
        func reader(_ name: String) -> YAMLReader {
            let url = folder.appendingPathComponent(name)
            guard let text = try? String(contentsOf: url, encoding: .utf8) else {
                log.add(file: url.path, line: nil, key: "", "is missing or unreadable: restore it from the shipped Policies/\(name)")
                return YAMLReader(file: url.path, path: "", node: nil, report: log)
            }
            return YAMLReader(file: url.path, text: text, report: log)
        }
        let (compression, versions) = CompressionPolicy.read(reader("compression.yaml"))
        let access = AccessPolicy.read(reader("access.yaml"), versions: versions)
        let tiering = TieringPolicy.read(reader("tiering.yaml"), versions: versions)
        let network = NetworkPolicy.read(reader("network.yaml"), versions: versions)
        let users = UsersPolicy.read(reader("users.yaml"))
        let delivery = DeliveryPolicy.read(reader("delivery.yaml"), versions: versions)
        guard log.problems.isEmpty else { return .failure(PolicyErrors(problems: log.problems)) }
        return .success(Policies(compression: compression, access: access, tiering: tiering, network: network, users: users, delivery: delivery))
    }
}
