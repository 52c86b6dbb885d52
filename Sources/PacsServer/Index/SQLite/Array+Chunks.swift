import GRDB

extension Array {
    /// Consecutive pieces of at most `size` elements (SQL statements take a bounded number of arguments).
    func chunked(into size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0..<Swift.min($0 + size, count)]) }
    }
}
