import DICOM

/// The SOP classes the DIMSE services speak besides storage.
enum SOPClass {
    static let verification = "1.2.840.10008.1.1"
    static let patientRootFind = "1.2.840.10008.5.1.4.1.2.1.1"
    static let patientRootMove = "1.2.840.10008.5.1.4.1.2.1.2"
    static let patientRootGet = "1.2.840.10008.5.1.4.1.2.1.3"
    static let studyRootFind = "1.2.840.10008.5.1.4.1.2.2.1"
    static let studyRootMove = "1.2.840.10008.5.1.4.1.2.2.2"
    static let studyRootGet = "1.2.840.10008.5.1.4.1.2.2.3"

    static let queryRetrieve: Set<String> = [patientRootFind, patientRootMove, patientRootGet, studyRootFind, studyRootMove, studyRootGet]

    /// Whether an abstract syntax is one we store: any storage SOP class of the standard, and any UID the
    /// standard does not know (private SOP classes are stored too). Other services are not offered.
    static func isStorage(_ uid: String) -> Bool {
        guard let entry = DataDictionary.uid(uid) else { return true }
        return entry.type == "SOP Class" && entry.name.contains("Storage") && !entry.name.contains("Commitment")
    }
}
