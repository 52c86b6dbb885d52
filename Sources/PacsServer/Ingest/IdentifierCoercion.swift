import DICOM
import Foundation
import Tiering

/// Supplies the Study and Series Instance UIDs a sender left out, so that the instance can be filed (what PS3.4
/// B.2.3 calls coercion of data elements, answered with Warning B000): each is derived from what identifies its
/// study (or series) in the dataset, so instances of one study sent without them still land in one study, and
/// the change is recorded in Original Attributes Sequence (PS3.3 C.12.1.1.9) with the values as they came (none).
enum IdentifierCoercion {
    /// The dataset with the missing identifiers supplied, and what was supplied; nil when none is missing.
    static func coerced(_ dataSet: DataSet, now: Date = Date()) -> (dataSet: DataSet, supplied: [Tag])? {
        let missing = [Tag.studyInstanceUID, .seriesInstanceUID].filter { (dataSet.string($0) ?? "").isEmpty }
        guard !missing.isEmpty, let sop = dataSet.string(.sopInstanceUID), !sop.isEmpty else { return nil }
        var out = dataSet
        // The key of a study (or series): its identifying values, or the instance itself when it has none.
        func key(_ tags: [Tag]) -> String {
            let values = tags.map { dataSet.string($0) ?? "" }
            return values.contains { !$0.isEmpty } ? values.joined(separator: "\\") : sop
        }
        let study = nonEmpty(dataSet.string(.studyInstanceUID))
            ?? uid("study", key([.patientID, .patientName, .studyDate, .studyTime, .accessionNumber, .studyID]))
        let series = nonEmpty(dataSet.string(.seriesInstanceUID))
            ?? uid("series", study + "|" + key([.seriesNumber, .modality, .seriesDate, .seriesTime, .seriesDescription]))
        out.set(.studyInstanceUID, .UI, study)
        out.set(.seriesInstanceUID, .UI, series)

        var previous = DataSet()
        for tag in missing { previous.set(Element(tag: tag, vr: .UI, bytes: [])) }
        var record = DataSet()
        record.set(Element(tag: .modifiedAttributesSequence, vr: .SQ, value: .items([Item(previous)])))
        record.set(.attributeModificationDateTime, .DT, dateTime(now))
        record.set(.modifyingSystem, .LO, "STRATA")
        record.set(.sourceOfPreviousValues, .LO, "")
        record.set(.reasonForTheAttributeModification, .CS, "COERCE")
        let earlier = dataSet[.originalAttributesSequence]?.items ?? []
        out.set(Element(tag: .originalAttributesSequence, vr: .SQ, value: .items(earlier + [Item(record)])))
        return (out, missing)
    }

    private static func nonEmpty(_ text: String?) -> String? {
        text.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// A UID under 2.25 (PS3.5 B.2) from the SHA-256 of a kind and a key: the same key gives the same UID.
    private static func uid(_ kind: String, _ key: String) -> String {
        let digest = SHA256.hash("strata \(kind) \(key)")
        let value = digest.prefix(32).reduce(UInt128(0)) { $0 << 4 | UInt128($1.hexDigitValue ?? 0) }
        return "2.25.\(value)"
    }

    private static func dateTime(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMddHHmmss'+0000'"
        return formatter.string(from: date)
    }
}
