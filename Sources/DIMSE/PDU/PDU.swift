
/// The protocol data units of the DICOM upper layer (PS3.8 9.3).
public enum PDU: Equatable, Sendable {
    case associateRequest(AssociateRequest)
    case associateAccept(AssociateAccept)
    case associateReject(AssociateReject)
    case data([PDV])
    case releaseRequest
    case releaseResponse
    case abort(Abort)

    public var name: String {
        switch self {
        case .associateRequest: return "A-ASSOCIATE-RQ"
        case .associateAccept: return "A-ASSOCIATE-AC"
        case .associateReject: return "A-ASSOCIATE-RJ"
        case .data: return "P-DATA-TF"
        case .releaseRequest: return "A-RELEASE-RQ"
        case .releaseResponse: return "A-RELEASE-RP"
        case .abort: return "A-ABORT"
        }
    }
}

/// The DICOM application context; the only one there is.
public let dicomApplicationContext = "1.2.840.10008.3.1.1.1"
