"""Alerts: rules evaluated over the rollups and the circuit history, delivered through apprise.

Rules (``RULES``):

* ``budget_threshold`` — a budget reached one of its thresholds (default 50, 80, 100 %) in its period;
* ``projected_overrun`` — a budget's forecast for the end of its period is over its amount;
* ``circuit_open`` — a provider's circuit opened (in the last ``circuit_lookback_minutes``);
* ``error_rate`` — a provider's error rate over the last ``error_rate_minutes`` minutes is at least
  ``error_rate_percent`` (with at least ``error_rate_min_calls`` calls);
* ``unpriced`` — calls to a model with no known price appeared (today or yesterday).

Each alert fires **once per rule, subject, threshold and period**: its dedup key
``rule|subject|threshold|period`` is a unique column of ``llm_alert_history``, so the first process
to insert it delivers it and every other evaluation (cron, the writer's hook, another machine) sees
the conflict and stays quiet. Periods: the budget's own period (``2026-11``, ``2026-W48``,
``2026-11-29``) for budget rules, the UTC day for ``circuit_open``, the UTC hour for ``error_rate``,
the month for ``unpriced``.

Channels are apprise URLs (``json://``, ``slack://``, ``mailto://``, ``discord://`` ...) from
``$LLM_METRICS_ALERT_URLS`` (comma or space separated) and from the TOML file named by
``$LLM_METRICS_ALERTS_FILE`` (``urls = [...]`` plus the rule settings of ``AlertSettings``). Each
channel is tried ``retries`` times with back-off; channels that still fail stay pending in the
history row (status ``failed``, the error kept) and are tried again by the next checks, up to
``max_attempts`` deliveries. A check claims a row before sending it (``attempts`` compared and
bumped, status ``sending``), so two checks running at once never send the same alert twice; a claim
older than ``SENDING_TIMEOUT`` (its process died) is taken over. Without channels an alert is still
recorded (status ``no_channels``).

``llm-metrics alerts check`` runs a check (for cron). The recorder's writer calls ``after_write``
after each stored batch: at most every ``$LLM_METRICS_ALERT_INTERVAL`` seconds (default 60; 0 = off)
and only when channels are configured, it starts one background thread for the check, so neither
the caller nor the writer ever waits for a channel; errors there are logged, never raised.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
import tomllib
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta

import pandas as pd
from sqlalchemy import and_, func, or_, select, update

from . import budgets, db, reliability
from .health import OPEN
from .queries import _engine

log = logging.getLogger("metrics_core.alerts")

RULES = ("budget_threshold", "projected_overrun", "circuit_open", "error_rate", "unpriced")
ENV_URLS = "LLM_METRICS_ALERT_URLS"
ENV_FILE = "LLM_METRICS_ALERTS_FILE"
ENV_INTERVAL = "LLM_METRICS_ALERT_INTERVAL"
RETRY_WINDOW = timedelta(days=1)  # failed deliveries older than this are not retried
SENDING_TIMEOUT = timedelta(minutes=10)  # a delivery in flight longer than this is taken over


@dataclass(frozen=True)
class AlertSettings:
    """Where alerts go and the rules' parameters (file keys have the same names)."""

    urls: tuple[str, ...] = ()
    error_rate_percent: float = 20.0
    error_rate_minutes: int = 15
    error_rate_min_calls: int = 10
    circuit_lookback_minutes: int = 60
    disabled_rules: frozenset[str] = frozenset()
    interval_seconds: float = 60.0  # the writer's hook: at most one check per interval (0 = off)
    retries: int = 3  # tries per channel and delivery
    backoff_seconds: float = 0.5  # first pause between tries, doubled each time
    max_attempts: int = 5  # deliveries of one alert (later checks retry failed channels)


def alert_settings(path: str | None = None) -> AlertSettings:
    """Settings from the TOML file (``path`` or ``$LLM_METRICS_ALERTS_FILE``) and the environment."""
    values: dict = {}
    path = path or os.environ.get(ENV_FILE) or None
    if path:
        try:
            with open(path, "rb") as fh:
                values = tomllib.load(fh)
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"cannot read the alerts file {path!r}: {exc}") from None
        known = {f.name for f in fields(AlertSettings)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown setting(s) {', '.join(unknown)} in {path!r}; known: {', '.join(sorted(known))}")
    urls = list(values.pop("urls", []) or [])
    if isinstance(urls, str):
        urls = [urls]
    env_urls = os.environ.get(ENV_URLS, "")
    urls += [u for u in env_urls.replace(",", " ").split() if u]
    values["urls"] = tuple(dict.fromkeys(urls))
    if "disabled_rules" in values:
        bad = set(values["disabled_rules"]) - set(RULES)
        if bad:
            raise ValueError(f"disabled_rules holds unknown rule(s) {sorted(bad)}; rules: {', '.join(RULES)}")
        values["disabled_rules"] = frozenset(values["disabled_rules"])
    raw = os.environ.get(ENV_INTERVAL)
    if raw:
        try:
            values["interval_seconds"] = float(raw)
        except ValueError:
            raise ValueError(f"{ENV_INTERVAL} must be a number of seconds, got {raw!r}") from None
    return AlertSettings(**values)


@dataclass(frozen=True)
class Alert:
    """One alert as a rule raised it."""

    rule: str
    subject: str
    period: str
    threshold: float | None
    value: float | None
    title: str
    message: str
    level: str = "warning"  # info | warning | failure (apprise notify types)

    @property
    def key(self) -> str:
        threshold = "-" if self.threshold is None else f"{self.threshold:g}"
        return f"{self.rule}|{self.subject}|{threshold}|{self.period}"


def _now(now: datetime | None) -> datetime:
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now


def _usd(value) -> str:
    return f"${value:,.2f}"


# -- rules --------------------------------------------------------------------------------------


def _budget_alerts(now: datetime, cfg: AlertSettings, engine) -> list[Alert]:
    alerts = []
    for st in budgets.statuses(now=now, engine=engine):
        b, f = st.budget, st.forecast
        kind = "hard" if b.hard else "soft"
        scope = b.scope_label
        if "budget_threshold" not in cfg.disabled_rules:
            for t in st.crossed:
                blocked = " Remote calls in its scope are now blocked." if b.hard and t >= 100 and st.exhausted else ""
                alerts.append(
                    Alert(
                        rule="budget_threshold",
                        subject=b.name,
                        period=st.period_label,
                        threshold=t,
                        value=round(float(st.percent), 2),
                        title=(
                            f"Budget {b.name!r} reached {t:g}% "
                            f"({_usd(st.spent)} of {_usd(b.amount_usd)}, {st.period_label})"
                        ),
                        message=(
                            f"The {kind} {b.period} budget {b.name!r} (scope {scope}) has spent {_usd(st.spent)} of "
                            f"{_usd(b.amount_usd)} in {st.period_label}: {st.percent:.1f}%, past the {t:g}% threshold. "
                            f"Projected by {st.period_end}: {_usd(f.projected)} ({_usd(f.low)} to {_usd(f.high)})."
                            + blocked
                        ),
                        level="failure" if t >= 100 else "warning",
                    )
                )
        if "projected_overrun" not in cfg.disabled_rules and f.overrun and not st.exhausted:
            run_out = f" at the current pace it runs out on {f.run_out_date}." if f.run_out_date else ""
            alerts.append(
                Alert(
                    rule="projected_overrun",
                    subject=b.name,
                    period=st.period_label,
                    threshold=100.0,
                    value=round(float(f.projected / b.amount_usd * 100), 2),
                    title=(
                        f"Budget {b.name!r} is projected to overrun: "
                        f"{_usd(f.projected)} of {_usd(b.amount_usd)} by {st.period_end}"
                    ),
                    message=(
                        f"The {kind} {b.period} budget {b.name!r} (scope {scope}) has spent {_usd(st.spent)} so far in "
                        f"{st.period_label}; projected {_usd(f.projected)} ({_usd(f.low)} to {_usd(f.high)}) by "
                        f"{st.period_end} against {_usd(b.amount_usd)};{run_out} Method: {f.method}."
                    ),
                )
            )
    return alerts


def _circuit_alerts(now: datetime, cfg: AlertSettings, engine) -> list[Alert]:
    e, p = db.circuit_events, db.providers
    since = now - timedelta(minutes=cfg.circuit_lookback_minutes)
    with engine.connect() as conn:
        rows = conn.execute(
            select(p.c.name, e.c.at, e.c.reason)
            .select_from(e.join(p, p.c.id == e.c.provider_id))
            .where(e.c.to_state == OPEN, e.c.at >= since, e.c.at <= now)
            .order_by(e.c.at, e.c.id)
        ).all()
    first: dict[tuple[str, str], tuple] = {}
    counts: dict[tuple[str, str], int] = {}
    for row in rows:
        key = (row.name, row.at.date().isoformat())
        first.setdefault(key, row)
        counts[key] = counts.get(key, 0) + 1
    return [
        Alert(
            rule="circuit_open",
            subject=name,
            period=day,
            threshold=None,
            value=float(counts[(name, day)]),
            title=f"Circuit of {name} opened at {row.at:%H:%M} UTC",
            message=(
                f"The circuit breaker of provider {name!r} opened at {row.at:%Y-%m-%d %H:%M:%S} UTC ({row.reason}); "
                f"calls fall back to the next provider until it recovers. Openings in the last "
                f"{cfg.circuit_lookback_minutes} minutes: {counts[(name, day)]}."
            ),
            level="failure",
        )
        for (name, day), row in first.items()
    ]


def _error_rate_alerts(now: datetime, cfg: AlertSettings, engine) -> list[Alert]:
    alerts = []
    for r in reliability.recent_error_rates(cfg.error_rate_minutes, now=now, engine=engine):
        if r["calls"] >= cfg.error_rate_min_calls and r["error_rate"] >= cfg.error_rate_percent:
            alerts.append(
                Alert(
                    rule="error_rate",
                    subject=r["provider"],
                    period=now.strftime("%Y-%m-%dT%H"),
                    threshold=cfg.error_rate_percent,
                    value=r["error_rate"],
                    title=(
                        f"{r['provider']}: {r['error_rate']:.1f}% of calls failed "
                        f"in the last {cfg.error_rate_minutes} minutes"
                    ),
                    message=(
                        f"{r['errors']} of {r['calls']} calls to {r['provider']!r} failed, timed out "
                        "or were rate-limited "
                        f"in the last {cfg.error_rate_minutes} minutes (threshold {cfg.error_rate_percent:g}%)."
                    ),
                    level="failure",
                )
            )
    return alerts


def _unpriced_alerts(now: datetime, cfg: AlertSettings, engine) -> list[Alert]:
    t, p = db.costs_daily, db.providers
    today = now.date()
    with engine.connect() as conn:
        rows = conn.execute(
            select(p.c.name, t.c.model, func.sum(t.c.unpriced_requests).label("n"))
            .select_from(t.join(p, p.c.id == t.c.provider_id))
            .where(t.c.day >= today - timedelta(days=1), t.c.day <= today, t.c.unpriced_requests > 0)
            .group_by(p.c.name, t.c.model)
            .order_by(p.c.name, t.c.model)
        ).all()
    return [
        Alert(
            rule="unpriced",
            subject=f"{r.name}/{r.model}",
            period=today.strftime("%Y-%m"),
            threshold=None,
            value=float(r.n),
            title=f"Unpriced calls: {r.name}/{r.model}",
            message=(
                f"{int(r.n)} call(s) to {r.model!r} at {r.name!r} since yesterday have no known price, so they are "
                f"not in the spend. Set a custom price (`llm-metrics price set --provider {r.name} --model "
                f"{r.model} --input ... --output ...`), then `llm-metrics reprice`."
            ),
            level="info",
        )
        for r in rows
    ]


def evaluate(*, now: datetime | None = None, settings: AlertSettings | None = None, engine=None) -> list[Alert]:
    """Every alert whose condition holds now (nothing is written or sent)."""
    engine = _engine(engine)
    cfg = settings or alert_settings()
    now = _now(now)
    alerts = _budget_alerts(now, cfg, engine)
    if "circuit_open" not in cfg.disabled_rules:
        alerts += _circuit_alerts(now, cfg, engine)
    if "error_rate" not in cfg.disabled_rules:
        alerts += _error_rate_alerts(now, cfg, engine)
    if "unpriced" not in cfg.disabled_rules:
        alerts += _unpriced_alerts(now, cfg, engine)
    return alerts


# -- delivery -----------------------------------------------------------------------------------


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
    h = db.alert_history
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
    h = db.alert_history
    by_id = {channel_id(u): u for u in cfg.urls}
    stale = _now(None) - SENDING_TIMEOUT  # a 'sending' row older than this lost its process
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
                .values(attempts=row.attempts + 1, status="sending", claimed_at=_now(None))
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
            values |= {"status": "sent", "delivered_at": _now(None), "last_error": None}
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
    engine = _engine(engine)
    cfg = settings or alert_settings()
    now = _now(now)
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
    engine = _engine(engine)
    h = db.alert_history
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
        result = check(settings=cfg, engine=db.get_engine(url))
        if result.fired or result.failures:
            log.info(
                "alerts: %d fired, %d delivered, %d channel failure(s)",
                len(result.fired),
                result.delivered,
                len(result.failures),
            )
    except Exception:
        log.exception("llm-metrics alert check failed")


def _reset_hook() -> None:
    """Forget the hook's schedule (tests)."""
    global _hook_next, _hook_thread
    with _hook_lock:
        _hook_next, _hook_thread = 0.0, None
