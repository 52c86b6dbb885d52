/// Objects held aside because another object is stored under their SOP Instance UID (see `ConflictHold`).
public protocol ConflictRecords: Sendable {
    /// Records a held object (its id assigned); one already held with the same SHA-256 is returned as it is.
    func holdConflict(_ conflict: HeldConflict) throws -> HeldConflict
    func heldConflict(sha256: String) throws -> HeldConflict?
    func heldConflicts() throws -> [HeldConflict]
    /// Forgets a held object; returns it, nil when there is none with this id.
    func releaseConflict(id: Int64) throws -> HeldConflict?
}
