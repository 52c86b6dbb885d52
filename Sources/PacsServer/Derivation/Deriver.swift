import Codecs
import DICOM
import Foundation

/// Makes the versions of one instance from its original: V1's JPEG-LS lossless copy, verified bit-exact
/// by decoding it (none for an original that is itself lossy: V1 is then the original as received), and the
/// lossy JPEG 2000 versions of the compression policy in the colours a viewer shows (palette looked up, YBR as
/// RGB), each at the ratio the policy gives the image's modality (lowered until the policy's PSNR floor is met).
struct Deriver: Sendable {
    static let losslessVariant = "jpegls"
    static let lossyVariant = "j2k"

    /// One derived file, encoded and described, ready to be stored.
    struct Product: Sendable {
        var bytes: [UInt8]
        var file: StoredFile
    }

    struct Result: Sendable {
        var products: [Product] = []
        /// Versions that could not be made, with the reason.
        var missing: [String: String] = [:]
    }

    let policy: CompressionPolicy

    /// Derives the versions not yet in `existing` (version/variant pairs such as "V2/j2k").
    func derive(originalBytes: [UInt8], existing: Set<String>) -> Result {
        var result = Result()
        let wanted = (policy.losslessCopy ? ["V1"] : []) + policy.versions.map(\.name)
        func missAll(_ reason: String) -> Result {
            var failed = Result()
            for name in wanted { failed.missing[name] = reason }
            return failed
        }
        let original: DicomFile
        do {
            original = try DicomFile.read(originalBytes)
        } catch {
            return missAll("the original cannot be read: \(error)")
        }
        let dataSet = original.dataSet, syntax = original.transferSyntax
        guard dataSet.contains(.pixelData) else { return missAll("not an image (no Pixel Data): V1 is the original as received") }
        // An original that arrived as JPEG-LS lossless already is the copy. A lossy one is V1 as it came: a lossless
        // copy would only keep one decoder's reading of it, which another decoder may round otherwise.
        let makesCopy = policy.losslessCopy && !existing.contains("V1/\(Self.losslessVariant)") && syntax != .jpegLSLossless && !syntax.isLossy
        if policy.losslessCopy, syntax.isLossy {
            result.missing["V1"] = "no lossless copy: the original is lossy (\(syntax.name)), so V1 is the original as received"
        }
        let image: PixelFrames
        do {
            image = try PixelFrames(dataSet, syntax: syntax)
        } catch {
            let reason = "the original's pixels (\(syntax.name)) cannot be decoded here: \(error); V1 is the original as received"
            for name in wanted where result.missing[name] == nil { result.missing[name] = reason }
            return result
        }
        let modality = dataSet.string(.modality)
        let bodyPart = dataSet.string(.bodyPartExamined)
        let studyDescription = dataSet.string(.studyDescription)

        if makesCopy {
            do {
                result.products.append(try losslessCopy(original, image))
            } catch {
                result.missing["V1"] = "JPEG-LS copy: \(error)"
            }
        }
        let lossyVersions = policy.versions.filter { !existing.contains("\($0.name)/\(Self.lossyVariant)") }
        guard !lossyVersions.isEmpty else { return result }
        let shown: PixelFrames
        do {
            shown = try image.inDisplayColours(dataSet)
        } catch {
            for version in lossyVersions { result.missing[version.name] = "JPEG 2000 \(version.name): \(error)" }
            return result
        }
        for version in lossyVersions {
            guard let ratio = policy.ratio(for: version.name, modality: modality, bodyPart: bodyPart, studyDescription: studyDescription) else {
                result.missing[version.name] = "compression.yaml gives no ratio for \(version.name)"
                continue
            }
            let floor = policy.minimumPSNR(for: version.name, modality: modality, bodyPart: bodyPart, studyDescription: studyDescription)
            do {
                result.products.append(try lossy(version, original, shown, ratio: ratio, minimumPSNR: floor))
            } catch {
                result.missing[version.name] = "JPEG 2000 \(version.name): \(error)"
            }
        }
        return result
    }

    private func losslessCopy(_ original: DicomFile, _ image: PixelFrames) throws -> Product {
        var codestreams: [[UInt8]] = []
        for frame in image.frames {
            let encoded = try JPEGLS.encode(frame, image.description)
            guard try JPEGLS.decode(encoded, image.description) == frame else {
                throw CodecError.mismatch("the JPEG-LS copy does not decode to the original pixels")
            }
            codestreams.append(encoded)
        }
        let object = try VersionObject.build(from: original, description: image.description, codestreams: codestreams,
                                             syntax: .jpegLSLossless, lossy: nil)
        let file = StoredFile(version: "V1", variant: Self.losslessVariant, tier: "", path: "", size: object.bytes.count, sha256: "",
                              transferSyntaxUID: TransferSyntax.jpegLSLossless.uid, purpose: Purpose.diagnosis.rawValue, quality: 100,
                              achievedRatio: ratio(image, codestreams),
                              frames: zip(object.frameOffsets, codestreams).map { FrameLayout(offset: $0, length: $1.count) },
                              headerLength: object.headerLength)
        return Product(bytes: object.bytes, file: file)
    }

    private func lossy(_ version: CompressionPolicy.Version, _ original: DicomFile, _ image: PixelFrames,
                       ratio target: Double, minimumPSNR: Double?) throws -> Product {
        let description = image.description
        let originals = image.frames.map { NativeSamples.read($0, description) }
        func encode(_ parameters: JPEG2000.Parameters) throws -> (codestreams: [[UInt8]], fidelity: Fidelity) {
            var codestreams: [[UInt8]] = []
            var worst = Fidelity(psnr: nil, maxError: 0)
            for (frame, original) in zip(image.frames, originals) {
                let encoded = try JPEG2000.encode(frame, description, parameters)
                let fidelity = Fidelity.measure(original: original, derived: try JPEG2000.decode(encoded).values,
                                                bitsStored: description.bitsStored)
                worst = Fidelity(psnr: [worst.psnr, fidelity.psnr].compactMap { $0 }.min(), maxError: max(worst.maxError, fidelity.maxError))
                codestreams.append(encoded)
            }
            return (codestreams, worst)
        }
        // Rate control tracks the ratio. An image that cannot keep the policy's fidelity floor at that ratio
        // gets the bytes it needs instead: the largest ratio that keeps the floor, found by bisection (in
        // log space) between the target and 1.5:1 -- never a version worse than its quality class promises.
        var attempt: (codestreams: [[UInt8]], fidelity: Fidelity)? = try encode(.init(ratio: target))
        if let floor = minimumPSNR, let psnr = attempt?.fidelity.psnr, psnr < floor {
            var failing = target, passing = 1.5
            attempt = nil
            for _ in 0..<6 {
                let ratio = (failing * passing).squareRoot()
                let trial = try encode(.init(ratio: ratio))
                if (trial.fidelity.psnr ?? .infinity) >= floor {
                    passing = ratio
                    attempt = trial
                } else {
                    failing = ratio
                }
            }
            if attempt == nil {
                let trial = try encode(.init(ratio: passing))
                // Not even 1.5:1 keeps the floor: fall back to the reversible transform, which is exact.
                attempt = (trial.fidelity.psnr ?? .infinity) >= floor ? trial : try encode(.lossless)
            }
        }
        guard let (codestreams, fidelity) = attempt else { throw CodecError.unsupported("no frames") }
        let achieved = ratio(image, codestreams)
        var coded = description
        if description.samplesPerPixel == 3 { coded.photometric = "YBR_ICT" }
        let object = try VersionObject.build(from: original, description: coded, codestreams: codestreams, syntax: .jpeg2000,
                                             lossy: .init(version: version, targetRatio: target, achievedRatio: achieved, fidelity: fidelity))
        let layouts = try zip(object.frameOffsets, codestreams).map { offset, codestream in
            let levels = try LevelIndex(codestream: codestream)
            return FrameLayout(offset: offset, length: codestream.count, levelEnds: levels.ends,
                               levelSizes: levels.sizes.map { [$0.width, $0.height] })
        }
        let file = StoredFile(version: version.name, variant: Self.lossyVariant, tier: "", path: "", size: object.bytes.count, sha256: "",
                              transferSyntaxUID: TransferSyntax.jpeg2000.uid, sopInstanceUID: object.sopInstanceUID,
                              purpose: version.purpose.rawValue, quality: version.quality, targetRatio: target, achievedRatio: achieved,
                              psnr: fidelity.psnr, maxError: fidelity.maxError, frames: layouts, headerLength: object.headerLength)
        return Product(bytes: object.bytes, file: file)
    }

    /// Native bytes : compressed bytes over all frames.
    private func ratio(_ image: PixelFrames, _ codestreams: [[UInt8]]) -> Double {
        Double(image.description.bytesPerFrame * image.frames.count) / Double(max(1, codestreams.reduce(0) { $0 + $1.count }))
    }
}
