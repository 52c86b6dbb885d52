
public struct AssociateAccept: Equatable, Sendable {
    public var calledAE: String
    public var callingAE: String
    public var applicationContext: String
    public var results: [PresentationContextResult]
    public var user: UserInformation

    public init(calledAE: String, callingAE: String, applicationContext: String = dicomApplicationContext,
                results: [PresentationContextResult], user: UserInformation) {
        self.calledAE = calledAE
        self.callingAE = callingAE
        self.applicationContext = applicationContext
        self.results = results
        self.user = user
    }
}
