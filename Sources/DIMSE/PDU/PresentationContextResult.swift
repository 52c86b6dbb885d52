
public struct PresentationContextResult: Equatable, Sendable {
    public enum Outcome: UInt8, Sendable {
        case acceptance = 0, userRejection = 1, noReason = 2, abstractSyntaxNotSupported = 3, transferSyntaxesNotSupported = 4
    }
    public var id: UInt8
    public var outcome: Outcome
    public var transferSyntax: String

    public init(id: UInt8, outcome: Outcome, transferSyntax: String) {
        self.id = id
        self.outcome = outcome
        self.transferSyntax = transferSyntax
    }
}
