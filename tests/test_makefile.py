"""`make run` and `make test` say what they do; `make run` on a busy port says how to pick another."""

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.sqlite_only,  # no database involved
    pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed"),
]


def make(*args, tmp_path):
    stamp = tmp_path / "installed"
    stamp.touch()  # newer than the requirements: no install
    bin_dir = Path(sys.executable).parent
    return subprocess.run(
        ["make", "--no-print-directory", *args, f"STAMP={stamp}", f"BIN={bin_dir}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_run_on_a_busy_port_suggests_another(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = make("run", f"PORT={port}", tmp_path=tmp_path)
    assert out.returncode != 0
    assert f"error: port {port} on 127.0.0.1 is already in use" in out.stderr
    assert "make run PORT=8502" in out.stderr


def test_first_run_says_it_installs_dependencies(tmp_path):
    dry = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", f"STAMP={tmp_path / 'missing'}", f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Installing dependencies into" in dry.stdout and "about 2-3 minutes" in dry.stdout
    assert "Starting the dashboard on http://127.0.0.1:8501" in dry.stdout
    test = subprocess.run(["make", "-n", "test", f"STAMP={tmp_path / 'missing'}"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert "Running the test suite" in test.stdout
