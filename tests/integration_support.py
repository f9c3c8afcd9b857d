"""Helpers for the integration tests: recorded payloads, mock HTTP handlers, record capture."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PAYLOADS = Path(__file__).parent / "fixtures" / "payloads"


def payload(name: str) -> bytes:
    """The bytes of a recorded provider payload."""
    return (PAYLOADS / name).read_bytes()


def capture(monkeypatch: Any) -> list[dict[str, Any]]:
    """Patch the integrations' single recording function; return the list it appends to."""
    from metrics_core.integrations import _common

    records: list[dict[str, Any]] = []
    monkeypatch.setattr(_common, "record", lambda **kwargs: records.append(kwargs))
    return records


def assert_tokens(rec: dict[str, Any], **expected: int) -> None:
    """Assert the token fields of a record (unlisted ones must be 0)."""
    fields = ("prompt_tokens", "completion_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
    assert {f: rec[f] for f in fields} == {f: expected.get(f, 0) for f in fields}


def assert_timing(rec: dict[str, Any], *, streamed: bool) -> None:
    """Duration always measured; TTFT only for streams, positive and within the duration."""
    assert rec["duration_seconds"] is not None and rec["duration_seconds"] > 0
    assert rec["timestamp"].tzinfo is not None
    if streamed:
        assert 0 < rec["time_to_first_token_seconds"] <= rec["duration_seconds"]
    else:
        assert rec["time_to_first_token_seconds"] is None


class Server:
    """A fake provider: answers each request with ``respond(request)`` and keeps the requests."""

    def __init__(self, respond: Callable[[Any], tuple[int, bytes, str]]) -> None:
        self.respond = respond
        self.requests: list[Any] = []
        self.bodies: list[dict[str, Any]] = []

    def handler(self, response_cls: type, exc_module: Any) -> Callable[[Any], Any]:
        """A MockTransport handler for ``httpx`` or ``httpx2`` (``exc_module`` raises timeouts)."""

        def handle(request: Any) -> Any:
            self.requests.append(request)
            self.bodies.append(json.loads(request.content or b"null"))
            result = self.respond(request)
            if result == "timeout":
                raise exc_module.ReadTimeout("timed out", request=request)
            status, body, content_type = result
            return response_cls(status, content=body, headers={"content-type": content_type})

        return handle


def fixed(status: int, name: str, content_type: str = "application/json") -> Callable[[Any], Any]:
    """A responder that always serves one payload file."""
    return lambda request: (status, payload(name), content_type)


def timeout(request: Any) -> str:
    """A responder that makes the transport raise a read timeout."""
    return "timeout"


def stored_requests(engine: Any) -> list[dict[str, Any]]:
    """Flush the core's recorder and read back every stored request with its provider's name."""
    from sqlalchemy import text

    import metrics_core

    assert metrics_core.flush(10)
    query = text(
        "SELECT p.name AS provider, r.* FROM llm_requests r JOIN llm_providers p ON p.id = r.provider_id ORDER BY r.id"
    )
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


@contextmanager
def fresh_core_db(directory: Path, monkeypatch: Any) -> Iterator[Any]:
    """Point the core at a new SQLite file (LLM_METRICS_DB_URL) and yield its engine."""
    from metrics_core import recording, storage

    for name in list(os.environ):
        if name.startswith("LLM_METRICS_"):
            monkeypatch.delenv(name)
    url = f"sqlite:///{directory / 'metrics.db'}"
    monkeypatch.setenv("LLM_METRICS_DB_URL", url)
    recording.reset(flush_first=False)
    storage.dispose_all()
    try:
        yield storage.get_engine(url)
    finally:
        recording.reset()
        storage.dispose_all()
