"""Policies: `pacs policy check` reports every problem with file, line and key; a running server picks up
valid edits without a restart and keeps the old policy when an edit is broken."""
import subprocess
import time
from pathlib import Path


from conftest import POLICIES_DIR, REPO_POLICIES_DIR, Pacs, PacsServer, copy_policies, free_port


def test_policy_check_accepts_the_shipped_policies(pacs_bin: Path):
    """The policies shipped in Policies/ are valid."""
    result = subprocess.run([str(pacs_bin), "policy", "check", str(REPO_POLICIES_DIR)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid" in result.stdout


def test_policy_check_names_file_line_and_key_of_each_problem(pacs_bin: Path, tmp_path: Path):
    """A broken edit makes `pacs policy check` exit 1 and say where and what, for every problem."""
    folder = copy_policies(tmp_path / "policies")
    text = (folder / "tiering.yaml").read_text()
    (folder / "tiering.yaml").write_text(text.replace("high_watermark: 85", "high_watermark: 185")
                                         .replace("variant: move", "variant: teleport"))
    result = subprocess.run([str(pacs_bin), "policy", "check", str(folder)], capture_output=True, text=True)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any("tiering.yaml:" in line and "fast.high_watermark" in line and "out of range" in line for line in lines), lines
    assert any("tiering.yaml:" in line and "variant" in line and "teleport" in line for line in lines), lines
    assert lines[-1].endswith("2 problems")


def echo(port: int, calling: str) -> subprocess.CompletedProcess:
    return subprocess.run(["/usr/bin/echoscu", "-aet", calling, "-aec", "STRATA", "127.0.0.1", str(port)],
                          capture_output=True, text=True, timeout=30, env={"TCP_NODELAY": "1"})


def wait_for(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_a_running_server_reloads_valid_edits_and_keeps_the_old_policy_on_a_broken_one(pacs_bin: Path, tmp_path: Path):
    """Editing network.yaml while `pacs serve` runs takes effect within seconds; a broken edit is logged and
    changes nothing; SIGHUP reloads too."""
    folder = copy_policies(tmp_path / "policies")
    port = free_port()
    pacs = Pacs(pacs_bin, tmp_path / "data", folder, tmp_path)
    server = PacsServer(pacs, "--dicom-port", str(port), log=tmp_path / "serve.log").start("DICOM listening")
    try:
        assert echo(port, "STRANGER").returncode != 0, "unknown callers are refused by default"
        network = folder / "network.yaml"
        original = network.read_text()
        network.write_text(original.replace("accept_unknown_callers: false", "accept_unknown_callers: true"))
        assert wait_for(lambda: echo(port, "STRANGER").returncode == 0), "the edit was not picked up"

        network.write_text(original.replace("accept_unknown_callers: false", "accept_unknown_callers: perhaps"))
        assert wait_for(lambda: "policy change rejected" in server.log_text())
        assert echo(port, "STRANGER").returncode == 0, "a broken edit must leave the previous policy in force"

        network.write_text(original)
        server.process.send_signal(1)  # SIGHUP
        assert wait_for(lambda: echo(port, "STRANGER").returncode != 0)
    finally:
        assert server.stop() == 0
