
public struct AssociateRequest: Equatable, Sendable {
    public var calledAE: String
    public var callingAE: String
    public var applicationContext: String
    public var contexts: [PresentationContextProposal]
    public var user: UserInformation

    public init(calledAE: String, callingAE: String, applicationContext: String = dicomApplicationContext,
                contexts: [PresentationContextProposal], user: UserInformation) {
        self.calledAE = calledAE
        self.callingAE = callingAE
        self.applicationContext = applicationContext
        self.contexts = contexts
        self.user = user
    }
}
