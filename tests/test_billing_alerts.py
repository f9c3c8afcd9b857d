"""The ``billing_drift`` alert rule over the recorded-vs-billed fixture of test_billing_reconcile."""

from __future__ import annotations

from datetime import datetime

from test_billing_reconcile import pull_both, recorded  # noqa: F401  (the recorded calls of the fixture)

from metrics_core.policy import alert_delivery, alerts
from metrics_core.policy.alerts import AlertSettings

NOW = datetime(2026, 11, 5, 8, 0)  # naive UTC; the default look-back of 7 days covers 2026-11-02 .. 04
QUIET = frozenset(alerts.RULES) - {"billing_drift"}


def fired(cfg: AlertSettings, engine) -> list[tuple[str, str, float, float]]:
    return [(a.subject, a.period, a.threshold, a.value) for a in alerts.evaluate(now=NOW, settings=cfg, engine=engine)]


def test_low_coverage_and_drift_fire_once_per_row(recorded) -> None:  # noqa: F811
    pull_both(recorded)
    assert fired(AlertSettings(disabled_rules=QUIET), recorded) == [
        ("anthropic/claude-sonnet-4-5 coverage", "2026-11-02", 90.0, 0.0),  # a day the app did not record
        ("openai/gpt-4o drift", "2026-11-02", 10.0, 20.0),  # the wrong price
        ("openai/gpt-4o-mini coverage", "2026-11-02", 90.0, 50.0),  # half recorded: no drift alert as well
        ("openai/gpt-4o drift", "2026-11-03", 10.0, 20.0),
    ]
    alert = alerts.evaluate(now=NOW, settings=AlertSettings(disabled_rules=QUIET), engine=recorded)[1]
    assert alert.title == "Recorded cost drifts from the bill: openai/gpt-4o on 2026-11-02, +20.0%"
    assert alert.message == (
        "With recorded 150,000 of 150,000 billed tokens, the recorded cost of openai/gpt-4o on 2026-11-02 differs "
        "from the bill by +20.0% (threshold 10%): recorded $0.69 vs billed $0.575. A price that is wrong or out "
        "of date: check `llm-metrics price show` and custom prices, then `llm-metrics reprice`."
    )


def test_thresholds_come_from_alerts_toml(recorded, tmp_path) -> None:  # noqa: F811
    pull_both(recorded)
    path = tmp_path / "alerts.toml"
    path.write_text(
        "billing_coverage_percent = 40\nbilling_drift_percent = 25\nbilling_min_billed_usd = 0.5\n"
        'disabled_rules = ["budget_threshold", "projected_overrun", "circuit_open", "error_rate", "unpriced"]\n'
    )
    cfg = alerts.alert_settings(str(path))
    assert (cfg.billing_coverage_percent, cfg.billing_drift_percent, cfg.billing_min_billed_usd) == (40, 25, 0.5)
    assert fired(cfg, recorded) == [("anthropic/claude-sonnet-4-5 coverage", "2026-11-02", 40.0, 0.0)]


def test_days_before_the_look_back_and_a_disabled_rule_stay_quiet(recorded) -> None:  # noqa: F811
    pull_both(recorded)
    assert fired(AlertSettings(disabled_rules=QUIET, billing_lookback_days=3), recorded) == [
        ("openai/gpt-4o drift", "2026-11-03", 10.0, 20.0)
    ]
    assert fired(AlertSettings(disabled_rules=frozenset(alerts.RULES)), recorded) == []


def test_a_billing_alert_is_recorded_once(recorded) -> None:  # noqa: F811
    pull_both(recorded)
    cfg = AlertSettings(disabled_rules=QUIET)
    assert len(alert_delivery.check(now=NOW, settings=cfg, engine=recorded).fired) == 4
    assert alert_delivery.check(now=NOW, settings=cfg, engine=recorded).fired == []
