import DICOM
import DIMSE

/// C-FIND SCP for the Patient Root and Study Root information models at PATIENT, STUDY, SERIES and IMAGE level:
/// the index's search (`IdentifierSearch`, the same as QIDO-RS's), of which the caller sees what the access gate shows
/// its role (a calling AE not in network.yaml is taken for a referring workstation).
struct FindSCP {
    let service: PacsDIMSEService

    func find(_ request: DIMSEMessage, on association: Association) async throws {
        guard let context = association.contexts[request.contextID], let bytes = request.dataSet,
              let identifier = try? DataSet.read(bytes, syntax: context.transferSyntax) else {
            return try await association.send(.response(to: request, .cFindResponse, status: Status.cannotUnderstand) {
                $0.set(.errorComment, .LO, "the identifier cannot be read")
            })
        }
        guard let level = identifier.string(.queryRetrieveLevel).flatMap(QueryLevel.init(rawValue:)) else {
            return try await association.send(.response(to: request, .cFindResponse, status: Status.identifierDoesNotMatchSOPClass) {
                $0.set(.errorComment, .LO, "QueryRetrieveLevel must be PATIENT, STUDY, SERIES or IMAGE")
            })
        }
        if level == .patient, request.affectedSOPClassUID == SOPClass.studyRootFind {
            return try await association.send(.response(to: request, .cFindResponse, status: Status.identifierDoesNotMatchSOPClass) {
                $0.set(.errorComment, .LO, "the Study Root model has no PATIENT level")
            })
        }
        let index = service.store.index, gate = service.gate
        let caller = service.caller(association.callingAE)
        let matches = try await service.blocking.run { gate.visible(try IdentifierSearch.search(identifier, level: level, index: index), to: caller) }
        let wantsVersions = identifier.contains(FetchableVersions.element)
        for match in matches {
            if association.isCancelled(request.messageID) {
                return try await association.send(.response(to: request, .cFindResponse, status: Status.cancel))
            }
            var result = match.identifier
            if wantsVersions { FetchableVersions.write(match.versions, into: &result) }
            let response = try result.encoded(syntax: context.transferSyntax)
            try await association.send(.response(to: request, .cFindResponse, status: Status.pending, dataSet: response))
        }
        let final = association.isCancelled(request.messageID) ? Status.cancel : Status.success
        try await association.send(.response(to: request, .cFindResponse, status: final))
    }
}
