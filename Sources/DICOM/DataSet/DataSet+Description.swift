/// A dataset prints as a person reads it: tag, VR, keyword and value, one element a line, items indented.
extension DataSet: CustomStringConvertible {
    public var description: String {
        var lines: [String] = []
        describe(into: &lines, indent: "", characterSet: characterSet())
        return lines.joined(separator: "\n")
    }

    private func describe(into lines: inout [String], indent: String, characterSet: SpecificCharacterSet) {
        for element in elements {
            let keyword = element.tag.keyword ?? (element.tag.isPrivateCreator ? "PrivateCreator" : "")
            let head = "\(indent)\(element.tag) \(element.vr.rawValue) \(keyword.padding(to: 32))"
            switch element.value {
            case let .items(items):
                lines.append("\(head) \(items.count) item\(items.count == 1 ? "" : "s")")
                for (index, item) in items.enumerated() {
                    lines.append("\(indent)  item \(index + 1)")
                    item.dataSet.describe(into: &lines, indent: indent + "    ", characterSet: item.dataSet.characterSet(inherited: characterSet))
                }
            case let .fragments(fragments):
                lines.append("\(head) encapsulated: offset table \(fragments.offsetTable.count) bytes, \(fragments.fragments.count) fragments")
            case let .bytes(bytes):
                lines.append("\(head) \(Self.summary(element.vr, bytes, characterSet))")
            }
        }
    }

    private static func summary(_ vr: VR, _ bytes: [UInt8], _ characterSet: SpecificCharacterSet) -> String {
        if vr.isBulk { return "\(bytes.count) bytes" }
        var values = vr.isString ? vr.textValues(bytes, characterSet: characterSet)
            : DICOMJSONEncoder.values(of: vr, bytes: bytes, characterSet: characterSet)
        let more = values.count > 8 ? " … (\(values.count) values)" : ""
        values = Array(values.prefix(8))
        let text = "[" + values.joined(separator: "\\") + "]" + more
        return text.count > 100 ? String(text.prefix(100)) + "…" : text
    }
}

extension String {
    func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
