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
  # The Python packages of the end-to-end tests, pinned in one file; installed when any is missing or differs.
  requirements=Tests/e2e/requirements.txt
  python3 - "$requirements" <<'PY' || python3 -m pip install -q -r "$requirements"
import importlib.metadata as m, sys
for line in open(sys.argv[1]):
    spec = line.split("#")[0].strip()
    if spec:
        name, _, version = spec.partition("==")
        if m.version(name) != version:
            sys.exit(1)
PY
  # Every module the tests import must import (and pydicom's pixel plugins load): a missing one fails here, never
  # turns a test into a skip.
  python3 - Tests/e2e <<'PY'
import ast, importlib, pathlib, sys
folder = pathlib.Path(sys.argv[1])
local = {path.stem for path in folder.glob("*.py")}
modules = {"openjpeg", "libjpeg", "rle", "jpeg_ls", "data_store"}
for path in folder.glob("*.py"):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
missing = []
for name in sorted(modules - local - set(sys.stdlib_module_names) - {"__future__"}):
    try:
        importlib.import_module(name)
    except Exception as error:
        missing.append(f"{name} ({error})")
if missing:
    sys.exit("the end-to-end tests import modules that do not import: " + ", ".join(missing))
PY
fi
