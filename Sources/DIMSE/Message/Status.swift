import DICOM

/// Status codes used here (PS3.7 C, PS3.4).
public enum Status {
    public static let success: UInt16 = 0x0000
    public static let pending: UInt16 = 0xFF00
    public static let cancel: UInt16 = 0xFE00
    public static let warningSubOperations: UInt16 = 0xB000
    /// C-STORE warning: the SCP changed or added attributes (PS3.4 B.2.3); what, in Error Comment.
    public static let coercionOfDataElements: UInt16 = 0xB000
    public static let outOfResources: UInt16 = 0xA700
    public static let outOfResourcesSubOperations: UInt16 = 0xA702
    public static let moveDestinationUnknown: UInt16 = 0xA801
    public static let dataSetDoesNotMatchSOPClass: UInt16 = 0xA900
    public static let identifierDoesNotMatchSOPClass: UInt16 = 0xA900
    public static let cannotUnderstand: UInt16 = 0xC000
    public static let unableToProcess: UInt16 = 0xC001
    /// C-STORE failure (in the Cxxx "cannot understand" range of PS3.4 B.2.3): another object is stored under this
    /// SOP Instance UID; this one was held aside for an admin (Error Comment says which).
    public static let conflictHeldAside: UInt16 = 0xC010
}
