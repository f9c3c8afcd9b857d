"""Usage completeness: which instrumentations recorded calls in a window without some usage fields.

Read from the notes the recorders write to ``llm_recorder_faults`` (kind ``usage_incomplete``;
see ``recording.usage_notes``): per source, how many calls it recorded and which fields it never
sends. A source that never sends cached tokens makes the cost of those calls look higher than billed.
"""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta

from sqlalchemy import select

from .. import storage
from .common import Window, read_engine, window_of

KIND = "usage_incomplete"  # recording.usage_notes.KIND (the recorder writes it; queries only read)
FIELD_WORDS = {
    "cache_read_tokens": "cached tokens",
    "cache_write_tokens": "cache writes",
    "reasoning_tokens": "reasoning tokens",
}
"""Usage field -> how the dashboard names it."""


def incomplete_usage(days: int | None = None, *, window: Window | None = None, engine=None) -> list[dict]:
    """Per source that recorded calls in the window (default: the last 30 UTC days) without some usage
    fields: ``{"source", "missing" (field names, sorted), "calls", "last_seen" (UTC)}``, most calls first.
    """
    window = window_of(days, window, 30)
    engine = read_engine(engine)
    f = storage.recorder_faults
    start = datetime.combine(window.start, time.min)
    end = datetime.combine(window.end + timedelta(days=1), time.min)
    query = select(f.c.at, f.c.count, f.c.detail).where(f.c.kind == KIND, f.c.at >= start, f.c.at < end)
    by_source: dict[str, dict] = {}
    with engine.connect() as conn:
        for at, count, detail in conn.execute(query):
            try:
                note = json.loads(detail or "")
                source, missing = str(note["source"]), [str(m) for m in note["missing"]]
            except (ValueError, KeyError, TypeError):
                continue
            entry = by_source.setdefault(source, {"source": source, "missing": set(), "calls": 0, "last_seen": at})
            entry["missing"].update(missing)
            entry["calls"] += int(count)
            entry["last_seen"] = max(entry["last_seen"], at)
    rows = [{**e, "missing": sorted(e["missing"])} for e in by_source.values()]
    return sorted(rows, key=lambda e: (-e["calls"], e["source"]))


def overstatement_notes(days: int | None = None, *, window: Window | None = None, engine=None) -> list[str]:
    """One sentence per source whose missing fields make cost look higher than billed (cached tokens)."""
    notes = []
    for entry in incomplete_usage(days, window=window, engine=engine):
        if "cache_read_tokens" in entry["missing"]:
            notes.append(f"cost may be overstated: {entry['source']} does not report cached tokens")
    return notes
