# bench/orthanc.sh: Orthanc (Debian's orthanc and orthanc-dicomweb packages) as the peer of the benchmarks,
# sourced by bench/wado and bench/telerad. Needs `die`, `note` and `out` from the script that sources it.

# Installs Debian's orthanc, orthanc-dicomweb (and any further packages named) once; sets $orthanc and $plugin.
orthanc_install() { # [EXTRA-PACKAGE...]
  local missing=() package
  for package in orthanc orthanc-dicomweb "$@"; do dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package"); done
  if [ ${#missing[@]} -gt 0 ]; then
    note "installing Debian's ${missing[*]} (once)"
    local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"; } >"$out/orthanc-install.log" 2>&1 ||
      die "could not install ${missing[*]} with apt (see $out/orthanc-install.log)"
  fi
  orthanc=$(dpkg -L orthanc | grep -E '/s?bin/Orthanc$' | head -1)
  [ -x "$orthanc" ] || die "orthanc is installed but its binary was not found"
  plugin=$(dpkg -L orthanc-dicomweb | grep -E 'libOrthancDicomWeb\.so$' | head -1)
  [ -n "$plugin" ] && [ -e "$plugin" ] || die "orthanc-dicomweb is installed but libOrthancDicomWeb.so was not found"
}

orthanc_config() { # NAME STORAGE DICOM-PORT HTTP-PORT CONFIG
  cat > "$5" <<JSON
{
  "Name": "bench-$1",
  "StorageDirectory": "$2",
  "IndexDirectory": "$2",
  "StorageCompression": false,
  "Plugins": [ "$plugin" ],
  "HttpServerEnabled": true,
  "HttpPort": $4,
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false,
  "DicomServerEnabled": false,
  "DicomPort": $3,
  "SaveJobs": false,
  "DicomWeb": { "Enable": true, "Root": "/dicom-web/" }
}
JSON
}

start_orthanc() { # CONFIG HTTP-PORT LOG: prints the pid once /system answers and the plugin is loaded
  local config=$1 http=$2 log=$3 pid
  "$orthanc" "$config" >/dev/null 2>"$log" &
  pid=$!
  for _ in $(seq 120); do
    if curl -sf --max-time 2 "http://127.0.0.1:$http/plugins/dicom-web" >/dev/null 2>&1; then echo "$pid"; return 0; fi
    kill -0 "$pid" 2>/dev/null || { tail -20 "$log" >&2; die "Orthanc exited before answering"; }
    sleep 0.25
  done
  kill "$pid" 2>/dev/null; tail -20 "$log" >&2; die "Orthanc (with its DICOMweb plugin) did not answer within 30 s"
}

orthanc_upload() { # HTTP-PORT FILE...: POSTs each file to Orthanc's REST /instances (4 at a time)
  python3 - "$@" <<'PY' || die "upload to Orthanc failed"
import concurrent.futures, http.client, sys, threading
port, files = int(sys.argv[1]), sys.argv[2:]
local = threading.local()
def upload(path):
    if not hasattr(local, "c"):
        local.c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    local.c.request("POST", "/instances", body=open(path, "rb").read(), headers={"Content-Type": "application/dicom"})
    r = local.c.getresponse(); r.read()
    if r.status != 200:
        raise SystemExit(f"{path}: HTTP {r.status}")
with concurrent.futures.ThreadPoolExecutor(4) as pool:
    list(pool.map(upload, files))
PY
}
