
/// Decides whether to accept an association and on which presentation contexts.
public protocol AssociationNegotiator: Sendable {
    func negotiate(_ request: AssociateRequest) -> Result<AssociateAccept, AssociateReject>
}
