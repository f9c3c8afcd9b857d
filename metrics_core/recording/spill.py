"""Records lost at exit are counted somewhere that outlives the process.

When a leaving process cannot write everything it queued, the count and the reason go to a small
JSON spill file first (``spill_dir``), then, if the database is reachable, straight into
``llm_recorder_faults`` (the file is removed once that row is committed). A file left behind is
stored by the next process that writes to the same database (``store_spilled``), and counted by
``get_health()`` meanwhile (``spilled_count``), so a loss is never silent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
from pathlib import Path

from sqlalchemy.engine import make_url

from .. import storage
from ..clock import utc_now
from ..config import settings

log = logging.getLogger("metrics_core")

#: seconds a leaving process waits for its loss to be stored in the database, at most
STORE_TIMEOUT = 3.0


def spill_dir(url: str) -> Path:
    """The folder of the spill files of the database at ``url``: ``LLM_METRICS_SPILL_DIR``, else the
    SQLite file's folder, else ``~/.cache/llm-metrics``."""
    configured = settings().spill_dir  # LLM_METRICS_SPILL_DIR
    if configured:
        return Path(configured).expanduser()
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() == "sqlite" and database and database != ":memory:" and "file:" not in database:
        return Path(database).expanduser().resolve().parent
    return Path.home() / ".cache" / "llm-metrics"


def _prefix(url: str) -> str:
    label = storage.db_label(url)  # no password in the hash's input either
    return "llm-metrics-lost-" + hashlib.sha256(label.encode()).hexdigest()[:16] + "-"


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def spill(url: str, count: int, detail: str) -> Path | None:
    """Write a spill file for ``count`` lost records; its path, or None if it could not be written."""
    folder = spill_dir(url)
    path = folder / f"{_prefix(url)}{socket.gethostname()}-{os.getpid()}-{os.urandom(4).hex()}.json"
    body = json.dumps({"count": count, "detail": detail, "process": process_name(), "at": utc_now().isoformat()})
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(body, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        log.error("llm-metrics could not write the spill file %s: %s", path, exc)
        return None
    return path


def _insert(engine, count: int, detail: str, process: str) -> None:
    with engine.begin() as conn:
        conn.execute(
            storage.recorder_faults.insert().values(
                at=utc_now(), process=process[:200], kind="dropped", count=count, detail=detail
            )
        )


def record_loss(url: str, count: int, detail: str, try_database: bool) -> None:
    """Count ``count`` records lost at exit: a spill file, then (``try_database``) a row in
    ``llm_recorder_faults`` within ``STORE_TIMEOUT`` seconds, which replaces the file."""
    path = spill(url, count, detail)

    def store() -> None:
        try:
            _insert(storage.get_engine(url), count, detail, process_name())
        except Exception as exc:  # the spill file keeps the count for the next process
            log.warning("llm-metrics could not store the count of lost records now (%s); kept in %s", exc, path)
            return
        if path is not None:
            path.unlink(missing_ok=True)

    if not try_database:
        return
    thread = threading.Thread(target=store, name="llm-metrics-loss", daemon=True)
    thread.start()
    thread.join(STORE_TIMEOUT)


def _spill_files(url: str) -> list[Path]:
    try:
        return sorted(spill_dir(url).glob(_prefix(url) + "*.json"))
    except OSError:
        return []


def spilled_count(url: str) -> int:
    """Records lost at some process's exit whose count waits in a spill file (not yet in the database)."""
    total = 0
    for path in _spill_files(url):
        try:
            total += int(json.loads(path.read_text(encoding="utf-8"))["count"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return total


def store_spilled(engine, url: str) -> int:
    """Store the counts of the spill files of ``url`` in ``llm_recorder_faults`` (each file is claimed
    by renaming it, so two processes never store one twice); how many records they counted."""
    stored = 0
    for path in _spill_files(url):
        claimed = path.with_name(f"{path.name}.claimed-{os.getpid()}")
        try:
            os.rename(path, claimed)
        except OSError:  # another process claimed it
            continue
        try:
            data = json.loads(claimed.read_text(encoding="utf-8"))
            count, detail, process = int(data["count"]), str(data["detail"]), str(data["process"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("llm-metrics: unreadable spill file %s left in place: %s", claimed, exc)
            continue
        try:
            _insert(engine, count, f"lost at exit of {process}: {detail}", process)
        except Exception:  # back for the next try
            os.replace(claimed, path)
            continue
        claimed.unlink(missing_ok=True)
        stored += count
    if stored:
        log.warning("llm-metrics stored the count of %d record(s) lost at an earlier process's exit", stored)
    return stored
