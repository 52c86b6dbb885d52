"""HTTPS: the HTTP service speaks TLS when network.yaml names a certificate and key, and refuses to run
in plain HTTP unless the policy says so explicitly."""
import subprocess
from pathlib import Path

import pytest
import requests

from conftest import Pacs, PacsServer, copy_policies, free_port

HTTP_READY = "HTTP listening on"


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made for this test with openssl."""
    cert, key = folder / "server.crt", folder / "server.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


def policies_with(folder: Path, network_text: str) -> Path:
    (folder / "network.yaml").write_text(network_text)
    return folder


def without_plain(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith("http_plain:")) + "\n"


def test_https_with_the_certificate_named_in_the_policy(pacs_bin: Path, tmp_path: Path):
    """With http_tls set the service answers HTTPS with that certificate, and plain HTTP gets nowhere."""
    cert, key = self_signed(tmp_path)
    folder = copy_policies(tmp_path / "policies")
    text = without_plain((folder / "network.yaml").read_text())
    policies_with(folder, text + f"http_tls:\n  certificate: {cert}\n  key: {key}\n")
    port = free_port()
    pacs = Pacs(pacs_bin, tmp_path / "data", folder, tmp_path)
    server = PacsServer(pacs, "--dicom-port", str(free_port()), "--http-port", str(port), log=tmp_path / "serve.log").start(HTTP_READY)
    try:
        assert "(https)" in server.log_text()
        response = requests.get(f"https://127.0.0.1:{port}/health", verify=str(cert), timeout=10)
        assert response.status_code == 200 and response.json() == {"status": "ok"}
        assert requests.get(f"https://127.0.0.1:{port}/dicom-web/studies", verify=str(cert), timeout=10).status_code == 401
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/health", timeout=10)
    finally:
        assert server.stop() == 0


def test_no_certificate_and_no_plain_http_permission_means_no_http_service(pacs_bin: Path, tmp_path: Path):
    """Without http_tls and without http_plain: true the server refuses to start, saying why."""
    folder = copy_policies(tmp_path / "policies")
    policies_with(folder, without_plain((folder / "network.yaml").read_text()))
    result = subprocess.run([str(pacs_bin), "serve", "--data", str(tmp_path / "data"), "--policies", str(folder),
                             "--dicom-port", str(free_port()), "--http-port", str(free_port())],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "http_tls" in result.stderr and "http_plain" in result.stderr, result.stderr[-2000:]
