"""HTTP limits: a STOW-RS body over network.yaml's http_max_upload is refused (413) and nothing is stored."""
import subprocess
from pathlib import Path

import requests

from conftest import FIXTURES_DIR, Pacs, PacsServer, copy_policies, free_port, multipart_body


def test_a_stow_body_over_the_upload_limit_is_413_and_stores_nothing(pacs_bin: Path, tmp_path: Path):
    folder = copy_policies(tmp_path / "policies")
    network = folder / "network.yaml"
    network.write_text(network.read_text().replace("http_max_upload: 4GB", "http_max_upload: 64KB"))
    subprocess.run([str(pacs_bin), "user", "add", "tech", "--role", "admin", "--policies", str(folder)],
                   input="secret\n", text=True, check=True, capture_output=True)
    port = free_port()
    pacs = Pacs(pacs_bin, tmp_path / "data", folder, tmp_path)
    server = PacsServer(pacs, "--dicom-port", str(free_port()), "--http-port", str(port), log=tmp_path / "serve.log")
    server.start("HTTP listening on")
    try:
        small = (FIXTURES_DIR / "valid" / "mr_rle.dcm").read_bytes()  # ~8 KB: under the limit
        large = (FIXTURES_DIR / "valid" / "ct_explicit_le.dcm").read_bytes()  # ~34 KB
        body = multipart_body([("application/dicom", small), ("application/dicom", large), ("application/dicom", large)], "b0und")
        assert len(body) > 64 * 1024
        response = requests.post(f"http://127.0.0.1:{port}/dicom-web/studies", data=body, auth=("tech", "secret"),
                                 headers={"Content-Type": 'multipart/related; type="application/dicom"; boundary=b0und'}, timeout=30)
        assert response.status_code == 413, response.text
        assert "http_max_upload" in response.text
        assert pacs.ls("instances") == [], "nothing of a refused body is stored"
        ok = requests.post(f"http://127.0.0.1:{port}/dicom-web/studies", data=multipart_body([("application/dicom", small)], "b0und"),
                           auth=("tech", "secret"), timeout=30,
                           headers={"Content-Type": 'multipart/related; type="application/dicom"; boundary=b0und'})
        assert ok.status_code == 200, ok.text
    finally:
        assert server.stop() == 0
