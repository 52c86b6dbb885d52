import DICOM

/// The versions a caller may fetch now of the study a search result stands for, carried in the result: (0073,1010)
/// in the private block "STRATA VERSIONS" (creator (0073,0010)). QIDO-RS results always carry it; C-FIND results
/// when the identifier asks for (0073,1010).
enum FetchableVersions {
    static let creator = Tag(0x0073, 0x0010), element = Tag(0x0073, 0x1010)

    static func write(_ versions: [String], into result: inout DataSet) {
        result.set(creator, .LO, VersionObject.privateCreator)
        result.set(element, .CS, versions.joined(separator: "\\"))
    }
}
