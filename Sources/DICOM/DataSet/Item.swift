/// One item of a sequence.
public struct Item: Equatable, Sendable {
    public var dataSet: DataSet
    public var undefinedLength: Bool

    public init(_ dataSet: DataSet, undefinedLength: Bool = false) {
        self.dataSet = dataSet
        self.undefinedLength = undefinedLength
    }
}
