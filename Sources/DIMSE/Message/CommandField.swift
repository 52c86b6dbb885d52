
/// Command Field values (PS3.7 E.1).
public enum CommandField: UInt16, Sendable {
    case cStoreRequest = 0x0001, cStoreResponse = 0x8001
    case cGetRequest = 0x0010, cGetResponse = 0x8010
    case cFindRequest = 0x0020, cFindResponse = 0x8020
    case cMoveRequest = 0x0021, cMoveResponse = 0x8021
    case cEchoRequest = 0x0030, cEchoResponse = 0x8030
    case cCancelRequest = 0x0FFF

    public var isResponse: Bool { rawValue & 0x8000 != 0 }
}
