"""Alert delivery: channels (apprise), the history table, claims, retries, and the writer's hook.

See ``policy.alerts`` for the rules and how an alert fires once per rule, subject, threshold and period.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd
from sqlalchemy import and_, or_, select, update

from .. import clock, storage
from ..queries import read_engine
from .alerts import RETRY_WINDOW, SENDING_TIMEOUT, Alert, AlertSettings, alert_settings, evaluate

log = logging.getLogger("metrics_core.alerts")


def channel_id(url: str) -> str:
    """A stable id for a channel URL that does not reveal it (kept in the history)."""
    return hashlib.sha256(url.encode()).hexdigest()[:12]


def channel_label(url: str) -> str:
    """The URL with its secrets masked (apprise's privacy mode), for messages and logs."""
    import apprise

    a = apprise.Apprise()
    if a.add(url):
        return a[0].url(privacy=True).split("?", 1)[0]
    return url.split("://", 1)[0] + "://…"


def send(
    title: str, body: str, urls, *, level: str = "warning", retries: int = 3, backoff_seconds: float = 0.5
) -> dict[str, str | None]:
    """Send one notification to each URL, each tried up to ``retries`` times with back-off.

    Returns ``{url: None (delivered) or the error}``.
    """
    import apprise

    notify_type = {"info": apprise.NotifyType.INFO, "failure": apprise.NotifyType.FAILURE}.get(
        level, apprise.NotifyType.WARNING
    )
    outcome: dict[str, str | None] = {}
    for url in urls:
        a = apprise.Apprise()
        if not a.add(url):
            outcome[url] = "not a valid apprise URL"
            continue
        error = "notification failed"
        for attempt in range(max(retries, 1)):
            with apprise.LogCapture(level=logging.WARNING) as captured:
                ok = bool(a.notify(title=title, body=body, notify_type=notify_type))
            if ok:
                outcome[url] = None
                break
            lines = [ln for ln in captured.getvalue().splitlines() if ln.strip()]
            error = lines[-1].split(" - ", 2)[-1] if lines else "notification failed"
            if attempt + 1 < retries:
                time.sleep(backoff_seconds * 2**attempt)
        else:
            outcome[url] = error
        if outcome[url] is not None:
            log.warning("alert channel %s failed after %d tries: %s", channel_label(url), retries, outcome[url])
    return outcome


@dataclass
class CheckResult:
    """What one check did."""

    alerts: list[Alert] = field(default_factory=list)  # conditions that hold now
    fired: list[Alert] = field(default_factory=list)  # new this time (recorded, sent)
    delivered: int = 0  # history rows fully delivered by this check (new or retried)
    failures: list[dict] = field(default_factory=list)  # {title, channel, error}
    channels: int = 0


def _insert_new(engine, alerts: list[Alert], now: datetime, channels: list[str]) -> list[Alert]:
    if not alerts:
        return []
    h = storage.alert_history
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    fired = []
    with engine.connect() as conn, conn.execution_options(immediate=True).begin():
        for a in alerts:
            stmt = (
                insert(h)
                .values(
                    dedup_key=a.key[:300],
                    rule=a.rule,
                    subject=a.subject[:300],
                    period=a.period,
                    threshold=a.threshold,
                    value=a.value,
                    title=a.title[:300],
                    message=a.message,
                    fired_at=now,
                    status="pending" if channels else "no_channels",
                    attempts=0,
                    pending_channels=json.dumps([channel_id(u) for u in channels]) if channels else None,
                )
                .on_conflict_do_nothing(index_elements=["dedup_key"])
            )
            if conn.execute(stmt.returning(h.c.id)).first() is not None:  # None: it fired before
                fired.append(a)
    return fired


def _deliver_pending(engine, now: datetime, cfg: AlertSettings, result: CheckResult) -> None:
    h = storage.alert_history
    by_id = {channel_id(u): u for u in cfg.urls}
    stale = clock.utc_now() - SENDING_TIMEOUT  # a 'sending' row older than this lost its process
    with engine.connect() as conn:
        rows = conn.execute(
            select(h)
            .where(
                or_(h.c.status.in_(("pending", "failed")), and_(h.c.status == "sending", h.c.claimed_at < stale)),
                h.c.attempts < cfg.max_attempts,
                h.c.fired_at >= now - RETRY_WINDOW,
            )
            .order_by(h.c.id)
        ).all()
    for row in rows:
        with engine.begin() as conn:  # claim it: a check running at the same time skips it
            claimed = conn.execute(
                update(h)
                .where(h.c.id == row.id, h.c.attempts == row.attempts)
                .values(attempts=row.attempts + 1, status="sending", claimed_at=clock.utc_now())
            ).rowcount
        if not claimed:
            continue
        pending = [by_id[c] for c in json.loads(row.pending_channels or "[]") if c in by_id]
        level = {
            "budget_threshold": "failure" if (row.threshold or 0) >= 100 else "warning",
            "circuit_open": "failure",
            "error_rate": "failure",
            "unpriced": "info",
        }.get(row.rule, "warning")
        outcome = send(
            row.title, row.message, pending, level=level, retries=cfg.retries, backoff_seconds=cfg.backoff_seconds
        )
        failed = {u: err for u, err in outcome.items() if err is not None}
        for u, err in failed.items():
            result.failures.append({"title": row.title, "channel": channel_label(u), "error": err})
        values = {"pending_channels": json.dumps([channel_id(u) for u in failed]) if failed else None}
        if failed:
            values |= {
                "status": "failed",
                "last_error": "; ".join(f"{channel_label(u)}: {err}" for u, err in failed.items())[:2000],
            }
        else:
            values |= {"status": "sent", "delivered_at": clock.utc_now(), "last_error": None}
            result.delivered += 1
        with engine.begin() as conn:
            conn.execute(update(h).where(h.c.id == row.id).values(**values))


def check(
    *, now: datetime | None = None, settings: AlertSettings | None = None, engine=None, deliver: bool = True
) -> CheckResult:
    """Evaluate every rule, record the alerts that are new (once per rule, subject, threshold and
    period), send them, and retry earlier deliveries that failed.

    Args:
        deliver: False = evaluate only (``alerts`` filled; nothing recorded or sent).
    """
    engine = read_engine(engine)
    cfg = settings or alert_settings()
    now = clock.naive_utc(now)
    result = CheckResult(alerts=evaluate(now=now, settings=cfg, engine=engine), channels=len(cfg.urls))
    if not deliver:
        return result
    result.fired = _insert_new(engine, result.alerts, now, list(cfg.urls))
    if cfg.urls:
        _deliver_pending(engine, now, cfg, result)
    return result


def history(*, limit: int = 200, engine=None) -> pd.DataFrame:
    """Fired alerts, newest first: ``fired_at, rule, subject, period, threshold, value, title,
    status, attempts, delivered_at, last_error``."""
    engine = read_engine(engine)
    h = storage.alert_history
    cols = [
        "fired_at",
        "rule",
        "subject",
        "period",
        "threshold",
        "value",
        "title",
        "status",
        "attempts",
        "delivered_at",
        "last_error",
    ]
    with engine.connect() as conn:
        rows = conn.execute(
            select(*[h.c[c] for c in cols]).order_by(h.c.fired_at.desc(), h.c.id.desc()).limit(limit)
        ).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=cols)


# -- the writer's hook ----------------------------------------------------------------------------

_hook_lock = threading.Lock()
_hook_next = 0.0
_hook_thread: threading.Thread | None = None


def after_write(url: str) -> None:
    """Called by the recorder's writer after each stored batch: at most once per interval, start a
    background check when channels are configured. Returns at once."""
    global _hook_next, _hook_thread
    now = time.monotonic()
    if now < _hook_next:
        return
    with _hook_lock:
        if now < _hook_next or (_hook_thread is not None and _hook_thread.is_alive()):
            return
        try:
            cfg = alert_settings()
        except ValueError as exc:
            _hook_next = now + 300
            log.warning("alerts are not checked after writes: %s", exc)
            return
        _hook_next = now + (cfg.interval_seconds if cfg.interval_seconds > 0 else 300)
        if cfg.interval_seconds <= 0 or not cfg.urls:
            return
        _hook_thread = threading.Thread(
            target=_background_check, args=(url, cfg), name="llm-metrics-alerts", daemon=True
        )
        _hook_thread.start()


def _background_check(url: str, cfg: AlertSettings) -> None:
    try:
        result = check(settings=cfg, engine=storage.get_engine(url))
        if result.fired or result.failures:
            log.info(
                "alerts: %d fired, %d delivered, %d channel failure(s)",
                len(result.fired),
                result.delivered,
                len(result.failures),
            )
    except Exception:
        log.exception("llm-metrics alert check failed")


def reset_hook() -> None:
    """Forget the hook's schedule (tests)."""
    global _hook_next, _hook_thread
    with _hook_lock:
        _hook_next, _hook_thread = 0.0, None
