"""Codec work on received images runs in worker processes the server supervises: an image that crashes a codec,
or makes it run forever, costs only its own versions. Its job ends failed with the reason after a bounded number
of tries, other images derive meanwhile, and the server (and its restart) never goes down with it. The faults are
made on purpose with the test-only switch STRATA_TEST_CODEC_FAULT (crash:UID or hang:UID), read only by the
worker process."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import VALID_DIR, Pacs, PacsServer, copy_policies, free_port, read_source

READY = "HTTP listening on"
TOOL_ENV = {**os.environ, "TCP_NODELAY": "1"}
FAULTY = VALID_DIR / "ct_explicit_le.dcm"
OTHERS = [VALID_DIR / "mr_explicit_le.dcm", VALID_DIR / "us_rgb_explicit_le.dcm", VALID_DIR / "cr_explicit_be.dcm"]


def serve(pacs_bin: Path, root: Path, fault: str, timeout: int | None = None) -> tuple[Pacs, PacsServer, int]:
    policies = copy_policies(root / "Policies")
    if timeout is not None:
        compression = policies / "compression.yaml"
        compression.write_text(compression.read_text().replace("derivation_timeout: 600", f"derivation_timeout: {timeout}"))
    port = free_port()
    pacs = Pacs(pacs_bin, root / "data", policies, root)
    server = PacsServer(pacs, "--dicom-port", port, "--http-port", free_port(), log=root / "serve.log",
                        env={"STRATA_TEST_CODEC_FAULT": f"{fault}:{read_source(FAULTY).sop_instance_uid}"})
    return pacs, server.start(READY), port


def store(port: int, *files: Path) -> None:
    result = subprocess.run(["/usr/bin/storescu", "-aet", "STORESCU", "-aec", "STRATA", "127.0.0.1", str(port), *map(str, files)],
                            capture_output=True, text=True, env=TOOL_ENV, timeout=120)
    assert result.returncode == 0, f"storescu failed:\n{result.stdout}{result.stderr}"


def echo(port: int) -> bool:
    return subprocess.run(["/usr/bin/echoscu", "-aet", "STORESCU", "-aec", "STRATA", "127.0.0.1", str(port)],
                          capture_output=True, env=TOOL_ENV, timeout=30).returncode == 0


def assert_only_the_faulty_image_lost_its_versions(pacs: Pacs, server: PacsServer, reason: str) -> None:
    faulty = read_source(FAULTY).sop_instance_uid
    others = [read_source(path).sop_instance_uid for path in OTHERS]
    pacs.wait_until_derived(faulty, *others, timeout=240)
    listing = pacs.versions(faulty)
    assert [v["variant"] for v in listing["versions"]] == ["original"], listing
    for name in ("V1", "V2", "V3"):
        assert reason in listing["missing"].get(name, "") and "gave up after 3 tries" in listing["missing"][name], listing["missing"]
    for uid in others:
        made = {(v["version"], v["variant"]) for v in pacs.versions(uid)["versions"]}
        assert {("V2", "j2k"), ("V3", "j2k")} <= made, f"{uid}: {made}"
    assert server.running, server.exit_note()


@pytest.mark.parametrize("fault, reason, timeout", [
    ("crash", "the codec worker crashed on this image (killed by signal 11", None),
    ("hang", "took longer than 3 s on this image and was stopped", 3),
])
def test_a_codec_that_crashes_or_hangs_on_one_image_costs_only_that_image(pacs_bin: Path, tmp_path: Path, fault: str,
                                                                           reason: str, timeout: int | None):
    pacs, server, port = serve(pacs_bin, tmp_path, fault, timeout)
    try:
        store(port, FAULTY, *OTHERS)
        assert_only_the_faulty_image_lost_its_versions(pacs, server, reason)
        assert echo(port), f"C-ECHO failed after the fault{server.exit_note()}"
        assert server.log_text().count("giving up deriving versions") == 1
    finally:
        assert server.stop() == 0, server.log_text()[-3000:]
    # A restart does not run the given-up job again.
    server.start(READY)
    try:
        time.sleep(3)
        assert echo(port) and server.running, server.exit_note()
        assert server.log_text().count("deriving versions failed") == 0, server.log_text()[-3000:]
        assert_only_the_faulty_image_lost_its_versions(pacs, server, reason)
    finally:
        assert server.stop() == 0
