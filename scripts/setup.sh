#!/usr/bin/env bash
# Installs what building and testing Strata needs, only what is missing (safe to run again).
set -euo pipefail

apt_packages=(libsqlite3-dev zlib1g-dev libssl-dev libcharls-dev libopenjp2-7-dev libopenjp2-tools libjpeg62-turbo-dev dcmtk dicom3tools pkg-config)
# The web viewer's tests drive Debian's headless Chromium through its WebDriver.
if [ "${1:-}" = "--test" ]; then apt_packages+=(chromium chromium-driver); fi
missing=()
for package in "${apt_packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ "${1:-}" = "--test" ]; then
  python_packages=(pydicom==3.0.2 pynetdicom dicomweb-client pytest numpy pylibjpeg pylibjpeg-openjpeg pyjpegls PyYAML pillow selenium requests)
  python3 - "${python_packages[@]}" <<'PY' || python3 -m pip install -q "${python_packages[@]}"
import importlib.metadata as m, sys
for spec in sys.argv[1:]:
    name, _, version = spec.partition("==")
    installed = m.version(name)
    if version and installed != version:
        sys.exit(1)
PY
fi
