import DICOM
import DIMSE

/// Accepts associations as the network policy says: our AE title, known callers (or anyone, if the policy
/// allows), storage of any SOP class in the syntax the caller prefers, query/retrieve and verification.
struct Negotiator: AssociationNegotiator {
    let policies: PolicyStore

    func negotiate(_ request: AssociateRequest) -> Result<AssociateAccept, AssociateReject> {
        let network = policies.current.network
        guard request.applicationContext == dicomApplicationContext else { return .failure(.applicationContextNotSupported) }
        guard request.calledAE == network.aeTitle else { return .failure(.calledAENotRecognized) }
        guard network.acceptUnknownCallers || network.remote(request.callingAE) != nil else { return .failure(.callingAENotRecognized) }
        let results = request.contexts.map { proposal -> PresentationContextResult in
            let known = proposal.transferSyntaxes.filter { TransferSyntax(uid: $0) != nil }
            if SOPClass.isStorage(proposal.abstractSyntax) {
                // Keep what the sender sends: its first syntax that we can read, which we store as it is.
                guard let chosen = known.first else {
                    return PresentationContextResult(id: proposal.id, outcome: .transferSyntaxesNotSupported, transferSyntax: TransferSyntax.implicitVRLittleEndian.uid)
                }
                return PresentationContextResult(id: proposal.id, outcome: .acceptance, transferSyntax: chosen)
            }
            guard SOPClass.queryRetrieve.contains(proposal.abstractSyntax) || proposal.abstractSyntax == SOPClass.verification else {
                return PresentationContextResult(id: proposal.id, outcome: .abstractSyntaxNotSupported, transferSyntax: TransferSyntax.implicitVRLittleEndian.uid)
            }
            let native = [TransferSyntax.explicitVRLittleEndian.uid, TransferSyntax.implicitVRLittleEndian.uid]
            guard let chosen = native.first(where: known.contains) else {
                return PresentationContextResult(id: proposal.id, outcome: .transferSyntaxesNotSupported, transferSyntax: TransferSyntax.implicitVRLittleEndian.uid)
            }
            return PresentationContextResult(id: proposal.id, outcome: .acceptance, transferSyntax: chosen)
        }
        // C-GET: the caller acts as storage SCP on this association where it asks to.
        let roles = request.user.roles.filter { $0.scp && SOPClass.isStorage($0.sopClassUID) }
        let user = UserInformation(maximumLength: DICOMNetwork.maximumReceiveLength, implementationClassUID: Implementation.classUID,
                                   implementationVersionName: Implementation.versionName, roles: roles)
        return .success(AssociateAccept(calledAE: request.calledAE, callingAE: request.callingAE, results: results, user: user))
    }
}
