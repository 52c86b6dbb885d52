#!/usr/bin/env bash
# Builds Strata (release) and runs the server on its defaults: ./data (SQLite index, data/fast and
# data/archive tiers) and the policies in ./Policies. Extra arguments go to `pacs serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product pacs
exec .build/release/pacs serve "$@"
