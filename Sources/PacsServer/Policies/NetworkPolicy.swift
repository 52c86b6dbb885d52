import Tiering

/// Who we are on the DICOM network and who may talk to us (`Policies/network.yaml`).
public struct NetworkPolicy: Sendable, Equatable {
    public var aeTitle: String
    public var dicomPort: Int
    public var httpPort: Int
    public var acceptUnknownCallers: Bool
    public var remoteAEs: [RemoteAE]
    /// PEM certificate chain and private key for HTTPS; nil for none.
    public var tls: (certificate: String, key: String)?
    /// Plain HTTP is served only when the policy says so (development); otherwise HTTPS or nothing.
    public var httpPlain: Bool
    /// The largest STOW-RS body accepted, in bytes.
    public var httpMaxUpload: Int

    public static func == (lhs: NetworkPolicy, rhs: NetworkPolicy) -> Bool {
        lhs.aeTitle == rhs.aeTitle && lhs.dicomPort == rhs.dicomPort && lhs.httpPort == rhs.httpPort
            && lhs.acceptUnknownCallers == rhs.acceptUnknownCallers && lhs.remoteAEs == rhs.remoteAEs
            && lhs.tls?.certificate == rhs.tls?.certificate && lhs.tls?.key == rhs.tls?.key && lhs.httpPlain == rhs.httpPlain
            && lhs.httpMaxUpload == rhs.httpMaxUpload
    }

    public func remote(_ title: String) -> RemoteAE? {
        remoteAEs.first { $0.title == title }
    }
}

extension NetworkPolicy {
    static func read(_ yaml: YAMLReader, versions: [String]) -> NetworkPolicy {
        let aeTitle = yaml.string("ae_title") ?? "STRATA"
        if !isAETitle(aeTitle) { yaml.problem("ae_title", "\"\(aeTitle)\" is not an AE title: 1 to 16 characters, no backslash or control characters") }
        let dicomPort = Int(yaml.number("dicom_port", in: 1...65535) ?? 11112)
        let httpPort = Int(yaml.number("http_port", in: 1...65535) ?? 8042)
        let acceptUnknown = yaml.bool("accept_unknown_callers", default: false)
        var remotes: [RemoteAE] = []
        for item in yaml.list("remote_aes") ?? [] {
            let entry = yaml.reader(for: item)
            let title = entry.string("title", required: true) ?? ""
            if !title.isEmpty, !isAETitle(title) { entry.problem("title", "\"\(title)\" is not an AE title: 1 to 16 characters") }
            if remotes.contains(where: { $0.title == title }) { entry.problem("title", "\(title) is listed twice") }
            let host = entry.string("host", required: true) ?? ""
            let port = entry.number("port", in: 1...65535, required: true)
            let roleText = entry.string("role", required: true) ?? ""
            let role = RemoteRole(rawValue: roleText)
            if role == nil, !roleText.isEmpty {
                entry.problem("role", "\"\(roleText)\" is not a role: use \(RemoteRole.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let version = entry.string("version")
            if let version, !versions.contains(version) {
                entry.problem("version", "\(version) is not a version (defined in compression.yaml: \(versions.joined(separator: ", ")))")
            }
            entry.finish()
            if let port, let role, !title.isEmpty, !host.isEmpty {
                remotes.append(RemoteAE(title: title, host: host, port: Int(port), role: role, version: version))
            }
        }
        var tls: (String, String)?
        if let section = yaml.mapping("http_tls") {
            let certificate = section.string("certificate", required: true)
            let key = section.string("key", required: true)
            section.finish()
            if let certificate, let key { tls = (certificate, key) }
        }
        let httpPlain = yaml.bool("http_plain", default: false)
        var maxUpload = 4 << 30
        if let text = yaml.string("http_max_upload") {
            if let bytes = Quantity.bytes(text), bytes > 0 { maxUpload = Int(bytes) } else {
                yaml.problem("http_max_upload", "\"\(text)\" is not a size: write e.g. 2GB")
            }
        }
        yaml.finish()
        return NetworkPolicy(aeTitle: aeTitle, dicomPort: dicomPort, httpPort: httpPort, acceptUnknownCallers: acceptUnknown,
                             remoteAEs: remotes, tls: tls, httpPlain: httpPlain, httpMaxUpload: maxUpload)
    }

    static func isAETitle(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 16 && !text.contains("\\") && text.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value < 0x7F }
    }
}
