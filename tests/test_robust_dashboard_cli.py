"""``llm-metrics dashboard`` binds where it is told (127.0.0.1 by default), from any working directory
(issue 12: ``streamlit run /path/app.py`` from elsewhere bound every interface)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from metrics_core.cli import dashboard as dashboard_cli

pytestmark = pytest.mark.sqlite_only

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> list[str]:
    """Local addresses (hex, as /proc/net/tcp writes them) listening on ``port``."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.append(address)
    return found


def test_the_command_line_carries_the_bind_address():
    command = dashboard_cli.streamlit_command("127.0.0.1", 8601)
    assert command[1:5] == ["-m", "streamlit", "run", str(ROOT / "app.py")]
    assert command[command.index("--server.address") + 1] == "127.0.0.1"
    assert command[command.index("--server.port") + 1] == "8601"


def test_dashboard_listens_on_loopback_only_from_another_directory(tmp_path, metrics_db):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "metrics_core", "dashboard", "--port", str(port)],
        cwd=tmp_path,  # no .streamlit/config.toml here
        env={**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while not _listening(port) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert _listening(port) == ["0100007F"], proc.stderr.read() if proc.poll() is not None else ""
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def test_a_bad_port_is_refused(metrics_db):
    run = subprocess.run(
        [sys.executable, "-m", "metrics_core", "dashboard", "--port", "70000"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
    )
    assert run.returncode == 2 and "expected a port from 1 to 65535, got 70000" in run.stderr
