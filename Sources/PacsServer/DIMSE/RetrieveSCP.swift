import Codecs
import DICOM
import DIMSE

/// C-MOVE (to a known AE, over a sub-association we open) and C-GET (back over the same association).
/// The receiver's role picks the version (reading: V1, referring: V2, teleradiology: V3, unless its entry
/// says otherwise) and the access gate decides, per study status, whether it may have it; a refused
/// sub-operation fails with an Error Comment that names the rule.
struct RetrieveSCP {
    let service: PacsDIMSEService

    fileprivate struct Counts {
        var remaining: Int
        var completed = 0, failed = 0, warning = 0
        var failedUIDs: [String] = []
        var lastProblem: String?
    }

    private enum Outcome {
        case completed, warning
        case failed(String)
    }

    func retrieve(_ request: DIMSEMessage, on association: Association) async throws {
        let isMove = request.commandField == .cMoveRequest
        let field: CommandField = isMove ? .cMoveResponse : .cGetResponse
        func refuse(_ status: UInt16, _ reason: String) async throws {
            try await association.send(.response(to: request, field, status: status) { $0.set(.errorComment, .LO, PacsDIMSEService.comment(reason)) })
        }
        guard let context = association.contexts[request.contextID], let bytes = request.dataSet,
              let identifier = try? DataSet.read(bytes, syntax: context.transferSyntax) else {
            return try await refuse(Status.cannotUnderstand, "the identifier cannot be read")
        }
        let policies = service.policies.current
        let receiver: RemoteAE
        if isMove {
            let destination = request.command.string(.moveDestination) ?? ""
            guard let known = policies.network.remote(destination) else {
                return try await refuse(Status.moveDestinationUnknown, "move destination \(destination) is not in network.yaml")
            }
            receiver = known
        } else {
            receiver = policies.network.remote(association.callingAE)
                ?? RemoteAE(title: association.callingAE, host: "", port: 0, role: .referring, version: nil)
        }
        var query = IndexQuery()
        query.studyInstanceUIDs = identifier.strings(.studyInstanceUID).filter { !$0.isEmpty }
        query.seriesInstanceUIDs = identifier.strings(.seriesInstanceUID).filter { !$0.isEmpty }
        query.sopInstanceUIDs = identifier.strings(.sopInstanceUID).filter { !$0.isEmpty }
        if let patient = identifier.string(.patientID), !patient.isEmpty, identifier.string(.queryRetrieveLevel) == "PATIENT" {
            query.patientID = patient
        }
        guard !query.studyInstanceUIDs.isEmpty || !query.seriesInstanceUIDs.isEmpty || !query.sopInstanceUIDs.isEmpty || query.patientID != nil else {
            return try await refuse(Status.identifierDoesNotMatchSOPClass, "name the study, series or instances to retrieve")
        }
        let index = service.store.index, gate = service.gate, caller = receiver.caller
        let wanted = query
        // Each study's status for the receiver, or why the gate cannot decide on it.
        let (instances, statuses) = try await service.blocking.run { () throws -> ([InstanceSummary], [String: Result<DiagnosisStatus, AccessRefusal>]) in
            let found = try index.instances(matching: wanted)
            var statuses: [String: Result<DiagnosisStatus, AccessRefusal>] = [:]
            var absent: Set<String> = []
            for study in Set(found.map(\.studyInstanceUID)) {
                do {
                    if let status = try gate.status(of: study, for: caller) { statuses[study] = .success(status) } else { absent.insert(study) }
                } catch let refusal as AccessRefusal {
                    statuses[study] = .failure(refusal)
                } catch {
                    statuses[study] = .failure(AccessRefusal(reason: "the status of study \(study) cannot be read: \(error)"))
                }
            }
            // A study hidden from the receiver (or deleted meanwhile) does not exist for it: none of its instances match.
            return (found.filter { !absent.contains($0.studyInstanceUID) }, statuses)
        }

        let target: Association
        if isMove {
            do {
                target = try await openSubAssociation(to: receiver, for: instances, ourTitle: policies.network.aeTitle)
            } catch {
                return try await refuse(Status.outOfResourcesSubOperations, "cannot reach \(receiver.title): \(error)")
            }
        } else {
            target = association
        }
        var counts = Counts(remaining: instances.count)
        var cancelled = false
        for instance in instances {
            if association.isCancelled(request.messageID) {
                cancelled = true
                break
            }
            let outcome = await send(instance, status: statuses[instance.studyInstanceUID] ?? .failure(AccessRefusal(reason: "no study")),
                                     to: receiver, over: target, move: isMove ? (request.messageID, association.callingAE) : nil)
            counts.remaining -= 1
            switch outcome {
            case .completed: counts.completed += 1
            case .warning: counts.warning += 1
            case let .failed(reason):
                counts.failed += 1
                counts.failedUIDs.append(instance.sopInstanceUID)
                counts.lastProblem = reason
                service.logger.notice("retrieve sub-operation failed", metadata: ["to": "\(receiver.title)", "sop": "\(instance.sopInstanceUID)", "reason": "\(reason)"])
            }
            if counts.remaining > 0 {
                try await association.send(.response(to: request, field, status: Status.pending) { counts.write(into: &$0, final: false) })
            }
        }
        if isMove { try? await target.release() }

        let status = cancelled ? Status.cancel : (counts.failed + counts.warning > 0 ? Status.warningSubOperations : Status.success)
        var failedList: [UInt8]?
        if !counts.failedUIDs.isEmpty {
            var list = DataSet()
            list.set(.failedSOPInstanceUIDList, .UI, counts.failedUIDs.joined(separator: "\\"))
            failedList = try list.encoded(syntax: context.transferSyntax)
        }
        try await association.send(.response(to: request, field, status: status, dataSet: failedList) { counts.write(into: &$0, final: true) })
    }

    /// One C-STORE sub-operation: the access decision, the version's file, a syntax the receiver takes.
    private func send(_ instance: InstanceSummary, status: Result<DiagnosisStatus, AccessRefusal>, to receiver: RemoteAE, over target: Association,
                      move: (messageID: UInt16, originator: String)?) async -> Outcome {
        let version = receiver.retrievedVersion
        do {
            try service.gate.check(receiver.caller, version: version, status: try status.get())
        } catch {
            return .failed(error.brief)
        }
        do {
            let stored = try await storedFile(of: instance, version: version)
            let store = service.store
            let file = try await service.blocking.run { try DicomFile.read(try store.read(stored)) }
            let sopClass = file.dataSet.string(.sopClassUID) ?? instance.sopClassUID
            let dataSet: [UInt8]
            let contextID: UInt8
            if let exact = target.context(for: sopClass, preferring: file.transferSyntax), exact.transferSyntax == file.transferSyntax,
               file.transferSyntax.littleEndian {
                let raw = try await service.blocking.run { try store.read(stored) }
                dataSet = Array(raw[file.dataSetOffset...])
                contextID = exact.id
            } else if let native = target.context(for: sopClass, preferring: .explicitVRLittleEndian),
                      !native.transferSyntax.encapsulated, native.transferSyntax.littleEndian {
                let codecs = service.codecs
                dataSet = try await service.blocking.run { try codecs.decompressed(try store.read(stored), to: native.transferSyntax) }
                contextID = native.id
            } else {
                return .failed("\(receiver.title) accepted no transfer syntax for \(sopClass) that we can send")
            }
            let request = DIMSEMessage.request(.cStoreRequest, contextID: contextID, messageID: target.nextMessageID(),
                                               sopClassUID: sopClass, dataSet: dataSet) { command in
                command.set(.affectedSOPInstanceUID, .UI, file.dataSet.string(.sopInstanceUID) ?? instance.sopInstanceUID)
                command.set(.priority, uint16: 0)
                if let move {
                    command.set(.moveOriginatorApplicationEntityTitle, .AE, move.originator)
                    command.set(.moveOriginatorMessageID, uint16: move.messageID)
                }
            }
            let response = try await target.request(request)
            switch response.status {
            case Status.success: return .completed
            case 0xB000...0xBFFF, 0x0001: return .warning
            default: return .failed("\(receiver.title) answered C-STORE with status 0x\(String(response.status, radix: 16))")
            }
        } catch {
            return .failed("\(error)")
        }
    }

    /// The file of the version asked for; a version not derived yet is moved to the front of the queue
    /// and awaited for a while rather than refused.
    private func storedFile(of instance: InstanceSummary, version: String) async throws -> StoredFile {
        let index = service.store.index
        let uid = instance.sopInstanceUID
        func lookUp() -> StoredFile? {
            let files = (try? index.files(sopInstanceUID: uid)) ?? instance.files
            let candidates = files.filter { $0.version == version }
            return candidates.first { $0.variant == IngestService.originalVariant } ?? candidates.first
        }
        if let file = lookUp() { return file }
        service.versionWanted(uid)
        for _ in 0..<300 {
            try await Task.sleep(for: .milliseconds(200))
            if let file = lookUp() { return file }
            if let reason = try index.derivation(sopInstanceUID: uid).missing[version] {
                throw CodecError.unsupported("\(version) of \(uid) could not be made: \(reason)")
            }
        }
        throw CodecError.unsupported("\(version) of \(uid) is not ready yet")
    }

    private func openSubAssociation(to receiver: RemoteAE, for instances: [InstanceSummary], ourTitle: String) async throws -> Association {
        var syntaxesByClass: [String: [String]] = [:]
        for instance in instances {
            let stored = instance.files.filter { $0.version == receiver.retrievedVersion }.map(\.transferSyntaxUID)
            let offer = stored + [TransferSyntax.explicitVRLittleEndian.uid, TransferSyntax.implicitVRLittleEndian.uid]
            syntaxesByClass[instance.sopClassUID, default: []] += offer.filter { !(syntaxesByClass[instance.sopClassUID] ?? []).contains($0) }
        }
        // A derived version keeps its original's SOP class; each class gets one context per syntax.
        var contexts: [PresentationContextProposal] = []
        for (sopClass, syntaxes) in syntaxesByClass.sorted(by: { $0.key < $1.key }) {
            for syntax in Set(syntaxes).sorted() where contexts.count < 128 {
                contexts.append(PresentationContextProposal(id: UInt8(2 * contexts.count + 1), abstractSyntax: sopClass, transferSyntaxes: [syntax]))
            }
        }
        let request = AssociateRequest(calledAE: receiver.title, callingAE: ourTitle, contexts: contexts,
                                       user: UserInformation(maximumLength: DICOMNetwork.maximumReceiveLength,
                                                             implementationClassUID: Implementation.classUID,
                                                             implementationVersionName: Implementation.versionName))
        return try await DICOMNetwork.connect(host: receiver.host, port: receiver.port, request: request, group: service.group, logger: service.logger)
    }
}

private extension RetrieveSCP.Counts {
    func write(into command: inout DataSet, final: Bool) {
        if !final || remaining > 0 { command.set(.numberOfRemainingSuboperations, uint16: UInt16(clamping: remaining)) }
        command.set(.numberOfCompletedSuboperations, uint16: UInt16(clamping: completed))
        command.set(.numberOfFailedSuboperations, uint16: UInt16(clamping: failed))
        command.set(.numberOfWarningSuboperations, uint16: UInt16(clamping: warning))
        // DCMTK warns about status details on pending responses: the reason goes with the final one.
        if final, let lastProblem { command.set(.errorComment, .LO, PacsDIMSEService.comment(lastProblem)) }
    }
}
