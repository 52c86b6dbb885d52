import Foundation

/// Finds studies through QIDO-RS.
public struct StudyFinder: Sendable {
    let client: StrataClient

    public init(client: StrataClient) {
        self.client = client
    }

    public func find(patientID: String?, name: String?, date: String?, modality: String?, accession: String?) async throws -> [StudyRow] {
        var components = URLComponents()
        components.queryItems = [("PatientID", patientID), ("PatientName", name), ("StudyDate", date), ("ModalitiesInStudy", modality),
                                 ("AccessionNumber", accession)].compactMap { key, value in value.map { URLQueryItem(name: key, value: $0) } }
            + ["StudyDescription", "NumberOfStudyRelatedInstances", "ModalitiesInStudy"].map { URLQueryItem(name: "includefield", value: $0) }
        let response = try await client.request(.GET, "/dicom-web/studies?\(components.percentEncodedQuery ?? "")", headers: [("Accept", "application/dicom+json")])
        let rows = (try? JSONSerialization.jsonObject(with: Data(response.body)) as? [[String: Any]]) ?? []
        return rows.map { json in
            func values(_ tag: String) -> [Any] { ((json[tag] as? [String: Any])?["Value"] as? [Any]) ?? [] }
            func text(_ tag: String) -> String {
                guard let first = values(tag).first else { return "" }
                if let name = first as? [String: Any] { return name["Alphabetic"] as? String ?? "" }
                return "\(first)"
            }
            return StudyRow(study: text("0020000D"), date: text("00080020"), patientName: text("00100010"), patientID: text("00100020"),
                            accession: text("00080050"), modalities: values("00080061").compactMap { $0 as? String },
                            instances: Int(text("00201208")) ?? 0, description: text("00081030"))
        }
    }
}
