import NIOCore

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

public struct PresentationContextProposal: Equatable, Sendable {
    public var id: UInt8
    public var abstractSyntax: String
    public var transferSyntaxes: [String]

    public init(id: UInt8, abstractSyntax: String, transferSyntaxes: [String]) {
        self.id = id
        self.abstractSyntax = abstractSyntax
        self.transferSyntaxes = transferSyntaxes
    }
}

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

/// SCP/SCU role selection for one SOP class (PS3.7 D.3.3.4), as C-GET needs it.
public struct RoleSelection: Equatable, Sendable {
    public var sopClassUID: String
    public var scu: Bool
    public var scp: Bool

    public init(sopClassUID: String, scu: Bool, scp: Bool) {
        self.sopClassUID = sopClassUID
        self.scu = scu
        self.scp = scp
    }
}

public struct UserInformation: Equatable, Sendable {
    /// The largest P-DATA-TF variable field the sender accepts; 0 for no limit.
    public var maximumLength: UInt32
    public var implementationClassUID: String
    public var implementationVersionName: String?
    public var roles: [RoleSelection]

    public init(maximumLength: UInt32, implementationClassUID: String, implementationVersionName: String? = nil, roles: [RoleSelection] = []) {
        self.maximumLength = maximumLength
        self.implementationClassUID = implementationClassUID
        self.implementationVersionName = implementationVersionName
        self.roles = roles
    }
}

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

/// A-ASSOCIATE-RJ (PS3.8 9.3.4): result, source and reason as the standard numbers them.
public struct AssociateReject: Equatable, Sendable, Error, CustomStringConvertible {
    public var permanent: Bool
    public var source: UInt8
    public var reason: UInt8

    public init(permanent: Bool = true, source: UInt8, reason: UInt8) {
        self.permanent = permanent
        self.source = source
        self.reason = reason
    }

    public static let applicationContextNotSupported = AssociateReject(source: 1, reason: 2)
    public static let callingAENotRecognized = AssociateReject(source: 1, reason: 3)
    public static let calledAENotRecognized = AssociateReject(source: 1, reason: 7)

    public var description: String {
        switch (source, reason) {
        case (1, 2): return "application context name not supported"
        case (1, 3): return "calling AE title not recognized"
        case (1, 7): return "called AE title not recognized"
        case (2, 2): return "protocol version not supported"
        default: return "rejected (source \(source), reason \(reason))"
        }
    }
}

/// A-ABORT (PS3.8 9.3.8): source 0 service user, 2 service provider.
public struct Abort: Equatable, Sendable {
    public var source: UInt8
    public var reason: UInt8

    public init(source: UInt8, reason: UInt8) {
        self.source = source
        self.reason = reason
    }

    public static let user = Abort(source: 0, reason: 0)
    public static let unrecognizedPDU = Abort(source: 2, reason: 1)
    public static let unexpectedPDU = Abort(source: 2, reason: 2)
    public static let invalidParameter = Abort(source: 2, reason: 6)
}

/// One presentation data value: part (or all) of a command or dataset on one presentation context. Received, a PDV
/// comes in pieces as its bytes arrive (`PDUDecoder`); `isLast` is set on the piece that ends the command or dataset.
public struct PDV: Equatable, Sendable {
    public var contextID: UInt8
    public var isCommand: Bool
    public var isLast: Bool
    /// A view of the bytes as they were received (no copy).
    public var data: ByteBuffer

    public init(contextID: UInt8, isCommand: Bool, isLast: Bool, data: ByteBuffer) {
        self.contextID = contextID
        self.isCommand = isCommand
        self.isLast = isLast
        self.data = data
    }
}

/// Why bytes on the wire are not a valid PDU: the association is aborted and the reason logged.
public enum PDUError: Error, Equatable, Sendable, CustomStringConvertible {
    case unknownType(UInt8)
    case tooLong(type: UInt8, length: UInt32, limit: Int)
    case malformed(String)

    public var description: String {
        switch self {
        case let .unknownType(type): return "unknown PDU type 0x\(String(type, radix: 16))"
        case let .tooLong(type, length, limit): return "PDU type 0x\(String(type, radix: 16)) of \(length) bytes exceeds the limit of \(limit)"
        case let .malformed(what): return "malformed PDU: \(what)"
        }
    }
}
