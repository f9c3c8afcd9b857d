"""Throwaway PostgreSQL server for tests.

``start_postgres()`` returns ``(url, stop)``. If ``LLM_METRICS_TEST_PG_URL`` is
set it is returned as is (``stop`` does nothing). Otherwise a fresh cluster is
made with ``initdb`` in a temp folder and started on a free 127.0.0.1 port, as
an unprivileged user when we are root (PostgreSQL refuses to run as root).

Use from a conftest::

    from pg_server import pg_url_fixture  # noqa: F401  (provides ``pg_url``)
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ENV_URL = "LLM_METRICS_TEST_PG_URL"
ENV_BINDIR = "LLM_METRICS_PG_BINDIR"
TEST_USER = "llmmetrics-test"
ROLE = "postgres"
DBNAME = "llm_metrics_test"

FAST_CONF = """
# llm-metrics throwaway test server
listen_addresses = '127.0.0.1'
unix_socket_directories = '{sock}'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 50
shared_buffers = 32MB
log_min_messages = warning
"""

# Runs detached; when our process dies (stdin pipe closes) it kills the
# postmaster (SIGQUIT = immediate shutdown) and removes the temp folder.
WATCHDOG = """
import os, shutil, signal, sys, time
sys.stdin.buffer.read()
root = sys.argv[1]
try:
    with open(os.path.join(root, "data", "postmaster.pid")) as f:
        pid = int(f.readline())
except (OSError, ValueError):
    pid = 0
if pid > 0:
    try:
        os.kill(pid, signal.SIGQUIT)
        for _ in range(100):
            os.kill(pid, 0)
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
shutil.rmtree(root, ignore_errors=True)
"""


class PgBinariesMissing(RuntimeError):
    """No PostgreSQL server binaries (initdb, pg_ctl, postgres) were found."""


def find_bindir() -> Path:
    """Return the newest PostgreSQL bin folder holding initdb, pg_ctl, postgres."""
    need = ("initdb", "pg_ctl", "postgres", "createdb")
    candidates = [os.environ.get(ENV_BINDIR, "")]
    dirs = glob.glob("/usr/lib/postgresql/*/bin")
    dirs.sort(key=lambda d: int(Path(d).parent.name) if Path(d).parent.name.isdigit() else 0)
    candidates += reversed(dirs)
    if shutil.which("initdb"):
        candidates.append(str(Path(shutil.which("initdb")).parent))
    for cand in filter(None, candidates):
        if all(os.access(Path(cand, n), os.X_OK) for n in need):
            return Path(cand)
    raise PgBinariesMissing(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in "
        "/usr/lib/postgresql/*/bin or PATH; install them with "
        "`apt-get install -y postgresql-15` or set LLM_METRICS_TEST_PG_URL"
    )


def _run_as() -> tuple[dict, int | None]:
    """Subprocess kwargs to drop root to TEST_USER (created if missing), and its uid."""
    if os.geteuid() != 0:
        return {}, None
    try:
        pw = pwd.getpwnam(TEST_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        # No check: a parallel run may have created the user meanwhile.
        made = subprocess.run(
            [useradd, "--system", "--no-create-home", "--home-dir", "/nonexistent",
             "--shell", "/usr/sbin/nologin", TEST_USER],
            check=False, capture_output=True, text=True,
        )  # fmt: skip
        try:
            pw = pwd.getpwnam(TEST_USER)
        except KeyError:
            raise RuntimeError(f"useradd {TEST_USER} failed: {made.stderr}") from None
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}, pw.pw_uid


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_postgres() -> tuple[str, Callable[[], None]]:
    """Start a throwaway server; return ``(sqlalchemy_url, stop)``."""
    if os.environ.get(ENV_URL):
        return os.environ[ENV_URL], lambda: None
    bindir = find_bindir()
    as_user, uid = _run_as()
    root = Path(tempfile.mkdtemp(prefix="llm-metrics-pg-"))
    data, sock = root / "data", root / "sock"
    sock.mkdir()
    if uid is not None:
        for p in (root, sock):
            os.chown(p, uid, as_user["group"])
    env = {**os.environ, "LC_ALL": "C", "PGTZ": "UTC"}
    env.pop("PGDATA", None)

    def run(*args: str) -> None:
        proc = subprocess.run(
            args,
            check=False,
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            **as_user,
        )
        if proc.returncode:
            log = root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}{tail}")

    watchdog = subprocess.Popen(
        [sys.executable, "-c", WATCHDOG, str(root)],
        stdin=subprocess.PIPE,
        start_new_session=True,
    )
    lock = threading.Lock()
    stopped = False

    def stop() -> None:
        """Stop the server (immediate mode) and delete its folder; idempotent."""
        nonlocal stopped
        with lock:
            if stopped:
                return
            stopped = True
            if (data / "postmaster.pid").exists():
                subprocess.run(
                    [
                        str(bindir / "pg_ctl"),
                        "-D",
                        str(data),
                        "-m",
                        "immediate",
                        "-w",
                        "stop",
                    ],
                    check=False,
                    cwd=root,
                    env=env,
                    capture_output=True,
                    **as_user,
                )
            # The watchdog kills a postmaster that survived pg_ctl, then
            # removes the folder.
            watchdog.stdin.close()
            watchdog.wait(timeout=30)
            shutil.rmtree(root, ignore_errors=True)
            atexit.unregister(stop)

    stop.folder = root  # type: ignore[attr-defined]  (for tests)
    atexit.register(stop)
    try:
        run(
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            ROLE,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        )
        with open(data / "postgresql.conf", "a") as conf:
            conf.write(FAST_CONF.format(sock=sock))
        for attempt in range(3):  # the free port may be taken before we bind it
            port = _free_port()
            try:
                run(
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(root / "server.log"),
                    "-o",
                    f"-p {port}",
                    "-w",
                    "-t",
                    "60",
                    "start",
                )
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        run(
            str(bindir / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            ROLE,
            DBNAME,
        )
    except BaseException:
        stop()
        raise
    return f"postgresql+psycopg://{ROLE}@127.0.0.1:{port}/{DBNAME}", stop


def skip_or_fail(reason: str) -> None:
    """Skip the test locally, but fail it when CI=true (CI must have PostgreSQL)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI needs PostgreSQL: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session", name="pg_url")
def pg_url_fixture() -> Iterator[str]:
    """Session-wide PostgreSQL URL; skips when binaries are missing (fails in CI)."""
    try:
        url, stop = start_postgres()
    except PgBinariesMissing as exc:
        skip_or_fail(str(exc))
    try:
        yield url
    finally:
        stop()
