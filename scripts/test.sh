#!/usr/bin/env bash
# Runs every test: installs what is missing, builds, runs the Swift tests, then the end-to-end tests
# that drive the real `pacs` binary with pydicom and DCMTK as peers.
set -euo pipefail
cd "$(dirname "$0")/.."
export TCP_NODELAY=1

scripts/setup.sh --test
swift build --build-tests
swift test --skip-build
PACS_BIN="$(swift build --show-bin-path)/pacs" python3 -m pytest Tests/e2e -q
