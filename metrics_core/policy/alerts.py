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

import logging
import os
import tomllib
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from sqlalchemy import func, select

from .. import clock, storage
from ..formatting import money
from ..queries import read_engine, recent_error_rates
from ..queries.providers import OPEN
from . import budgets

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
                            f"({money(st.spent)} of {money(b.amount_usd)}, {st.period_label})"
                        ),
                        message=(
                            f"The {kind} {b.period} budget {b.name!r} (scope {scope}) has spent {money(st.spent)} of "
                            f"{money(b.amount_usd)} in {st.period_label}: {st.percent:.1f}%, "
                            f"past the {t:g}% threshold. "
                            f"Projected by {st.period_end}: {money(f.projected)} ({money(f.low)} to {money(f.high)})."
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
                        f"{money(f.projected)} of {money(b.amount_usd)} by {st.period_end}"
                    ),
                    message=(
                        f"The {kind} {b.period} budget {b.name!r} (scope {scope}) has spent {money(st.spent)} "
                        "so far in "
                        f"{st.period_label}; projected {money(f.projected)} ({money(f.low)} to {money(f.high)}) by "
                        f"{st.period_end} against {money(b.amount_usd)};{run_out} Method: {f.method}."
                    ),
                )
            )
    return alerts


def _circuit_alerts(now: datetime, cfg: AlertSettings, engine) -> list[Alert]:
    e, p = storage.circuit_events, storage.providers
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
    for r in recent_error_rates(cfg.error_rate_minutes, now=now, engine=engine):
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
    t, p = storage.costs_daily, storage.providers
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
    engine = read_engine(engine)
    cfg = settings or alert_settings()
    now = clock.naive_utc(now)
    alerts = _budget_alerts(now, cfg, engine)
    if "circuit_open" not in cfg.disabled_rules:
        alerts += _circuit_alerts(now, cfg, engine)
    if "error_rate" not in cfg.disabled_rules:
        alerts += _error_rate_alerts(now, cfg, engine)
    if "unpriced" not in cfg.disabled_rules:
        alerts += _unpriced_alerts(now, cfg, engine)
    return alerts


# -- delivery -----------------------------------------------------------------------------------
