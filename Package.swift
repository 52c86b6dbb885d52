// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Strata",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "pacs", targets: ["pacs"]),
        .executable(name: "workstation", targets: ["workstation"]),
        .library(name: "DICOM", targets: ["DICOM"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
    ],
    targets: [
        // C libraries from the system (Debian -dev packages), entered through module maps.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CCharLS", pkgConfig: "charls", providers: [.apt(["libcharls-dev"])]),
        .systemLibrary(name: "COpenJPEG", pkgConfig: "libopenjp2", providers: [.apt(["libopenjp2-7-dev"])]),
        .systemLibrary(name: "CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg62-turbo-dev"])]),

        // Data dictionary, dataset model, Part 10 I/O, transfer syntaxes, DICOM JSON.
        .target(name: "DICOM", dependencies: ["CZlib"]),
        // setjmp/longjmp error handling around libjpeg, which Swift cannot do.
        .target(name: "CJPEGShim", dependencies: ["CJPEG"], linkerSettings: [.linkedLibrary("jpeg")]),
        // The DICOM upper layer and DIMSE messages over SwiftNIO: associations, PDUs, commands.
        .target(name: "DIMSE", dependencies: [
            "DICOM",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Pixel codecs and fidelity metrics.
        .target(name: "Codecs", dependencies: ["DICOM", "CCharLS", "COpenJPEG", "CJPEG", "CJPEGShim", "CZlib"]),
        // Storage tiers: durable file placement, hashing, later migration, recall and prefetch.
        // Linux calls glibc hides behind _GNU_SOURCE (syncfs, copy_file_range), for the tier mover.
        .target(name: "CFileSystem"),
        .target(name: "CMemory"),
        // posix_spawn with pipes, for the codec worker processes.
        .target(name: "CProcess"),
        .target(name: "Tiering", dependencies: ["CCrypto", "CFileSystem"]),
        // Ingest, index, policies and the services of `pacs`.
        .target(name: "PacsServer", dependencies: [
            "DICOM", "DIMSE", "Codecs", "Tiering", "CCrypto", "CProcess",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "HummingbirdAuth", package: "hummingbird-auth"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        ]),
        // The reading client.
        .target(name: "Workstation", dependencies: [
            "DICOM", "Codecs",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),

        // What both command-line front ends share (asking for a password).
        .target(name: "CommandLineSupport"),
        .executableTarget(name: "pacs", dependencies: [
            "PacsServer", "DICOM", "DIMSE", "Tiering", "CommandLineSupport", "CMemory",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // Codec timing for bench/derive, set against bench/codec_baseline.c.
        .executableTarget(name: "strata-bench", dependencies: ["Codecs", "DICOM"]),
        // The workstation's command line (its folder is not named `workstation`, which would be the library's
        // folder on a case-insensitive disk).
        .executableTarget(name: "workstation", dependencies: [
            "Workstation", "Codecs", "CommandLineSupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/WorkstationCLI"),

        // What several test targets share (a seeded random generator).
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "DICOMTests", dependencies: ["DICOM", "TestSupport"], path: "Tests/DICOMTests"),
        .testTarget(name: "DIMSETests", dependencies: ["DIMSE", "DICOM", .product(name: "NIOCore", package: "swift-nio"),
                                                     .product(name: "NIOEmbedded", package: "swift-nio")], path: "Tests/DIMSETests"),
        .testTarget(name: "CodecsTests", dependencies: ["Codecs", "DICOM", "TestSupport"], path: "Tests/CodecsTests"),
        .testTarget(name: "TieringTests", dependencies: ["Tiering"], path: "Tests/TieringTests"),
        .testTarget(name: "PacsServerTests", dependencies: [
            "PacsServer", "DICOM", "Tiering", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Hummingbird", package: "hummingbird"), .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"), .product(name: "Logging", package: "swift-log"),
        ], path: "Tests/PacsServerTests"),
        .testTarget(name: "WorkstationTests", dependencies: ["Workstation"], path: "Tests/WorkstationTests"),
    ],
    swiftLanguageModes: [.v6]
)
