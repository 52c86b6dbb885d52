import DICOM

/// Turns stored sample values into what a screen shows (PS3.3 C.11): the Modality LUT (rescale slope and
/// intercept), the VOI window (from the request, else the dataset's first, else the image's range), and
/// MONOCHROME1 inversion; colour passes through.
public struct Renderer: Sendable {
    public struct Window: Sendable, Equatable, Codable {
        public var center: Double
        public var width: Double

        public init(center: Double, width: Double) {
            self.center = center
            self.width = width
        }

        /// Presets radiologists know, and `C,W`.
        public init?(text: String) {
            switch text.lowercased() {
            case "lung": self.init(center: -600, width: 1500)
            case "mediastinum": self.init(center: 50, width: 350)
            case "bone": self.init(center: 400, width: 1800)
            case "brain": self.init(center: 40, width: 80)
            default:
                let parts = text.split(separator: ",").compactMap { Double($0.trimmingCharacters(in: .whitespaces)) }
                guard parts.count == 2, parts[1] > 0 else { return nil }
                self.init(center: parts[0], width: parts[1])
            }
        }
    }

    public var slope: Double
    public var intercept: Double
    public var window: Window?
    public var invert: Bool

    public init(slope: Double, intercept: Double, window: Window?, invert: Bool) {
        self.slope = slope
        self.intercept = intercept
        self.window = window
        self.invert = invert
    }

    /// The rendering parameters of a dataset; `window` overrides its own.
    public init(_ dataSet: DataSet, window: Window? = nil) {
        slope = dataSet.double(.rescaleSlope) ?? 1
        intercept = dataSet.double(.rescaleIntercept) ?? 0
        if let window {
            self.window = window
        } else if let center = dataSet.double(.windowCenter), let width = dataSet.double(.windowWidth), width > 0 {
            self.window = Window(center: center, width: width)
        }
        invert = dataSet.string(.photometricInterpretation) == "MONOCHROME1"
    }

    /// Renders decoded samples (`components` interleaved per pixel) of a `width` x `height` image.
    public func render(_ values: [Int32], width: Int, height: Int, components: Int) -> RenderedImage {
        guard components == 1 else {
            // Colour is 8-bit RGB after decoding: shown as it is.
            return RenderedImage(width: width, height: height, components: 3, pixels: values.map { UInt8(clamping: $0) })
        }
        let modality = values.map { Double($0) * slope + intercept }
        let window = self.window ?? {
            let low = modality.min() ?? 0, high = modality.max() ?? 1
            return Window(center: (low + high) / 2, width: max(1, high - low))
        }()
        // Linear VOI function (PS3.3 C.11.2.1.2.1).
        let lower = window.center - 0.5 - (window.width - 1) / 2
        let upper = window.center - 0.5 + (window.width - 1) / 2
        let pixels = modality.map { value -> UInt8 in
            let level: Double
            if value <= lower { level = 0 } else if value > upper { level = 255 } else {
                level = ((value - (window.center - 0.5)) / (window.width - 1) + 0.5) * 255
            }
            let byte = UInt8(clamping: Int(level.rounded()))
            return invert ? 255 - byte : byte
        }
        return RenderedImage(width: width, height: height, components: 1, pixels: pixels)
    }
}
