/// An object held aside because its SOP Instance UID was already stored with other content (see `ConflictHold`).
public struct HeldConflict: Sendable, Equatable, Codable {
    public var id: Int64
    public var sopInstanceUID: String
    /// Seconds since 1970.
    public var receivedAt: Double
    /// Who sent it: "C-STORE from AE", "STOW-RS", "import".
    public var source: String
    /// How it differs from the stored instance.
    public var difference: String
    /// Its file's name in the conflicts folder.
    public var file: String
    public var size: Int
    public var sha256: String
}
