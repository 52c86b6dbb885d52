/// The level a query asks at (PS3.4 C.6): what each match is.
public enum QueryLevel: String, Sendable {
    case patient = "PATIENT", study = "STUDY", series = "SERIES", image = "IMAGE"
}
