"""CLI commands for budgets, alerts and reports: ``budget``, ``alerts``, ``report``."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from .. import formatting as fmt


def _month(text: str) -> date:
    try:
        return date.fromisoformat(f"{text}-01")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a month as YYYY-MM, got {text!r}") from None


def register(sub) -> dict:
    from ..policy.budgets import PERIODS
    from ..reports import FORMATS

    """Add ``budget``, ``alerts`` and ``report`` to the ``llm-metrics`` parser."""
    p = sub.add_parser("budget", help="set, list or delete spend budgets")
    actions = p.add_subparsers(dest="budget_action", required=True, metavar="ACTION")
    s = actions.add_parser("set", help="create a budget or replace the one with the same name")
    s.add_argument("name", help="a short unique name, e.g. team-monthly")
    s.add_argument("--amount", required=True, help="limit in USD per period")
    scope = s.add_mutually_exclusive_group()
    scope.add_argument("--provider", help="only calls to this provider (e.g. claude)")
    scope.add_argument("--model", help="only calls to this model")
    scope.add_argument("--tag", metavar="KEY=VALUE", help="only calls with this tag (e.g. project=search)")
    s.add_argument("--period", choices=PERIODS, default="monthly", help="default monthly")
    s.add_argument("--thresholds", default="50,80,100", help="alert thresholds in percent (default 50,80,100)")
    s.add_argument("--hard", action="store_true", help="enforce: check_budget raises and pick_provider falls back")
    lst = actions.add_parser("list", help="every budget with its spend, percent used and forecast")
    lst.add_argument("--json", action="store_true", help="print JSON")
    d = actions.add_parser("delete", help="remove a budget (its alert history stays)")
    d.add_argument("name")

    p = sub.add_parser("alerts", help="check alert rules and send what is new (for cron), or show the history")
    actions = p.add_subparsers(dest="alerts_action", required=True, metavar="ACTION")
    c = actions.add_parser("check", help="evaluate the rules, record and send new alerts, retry failed ones")
    c.add_argument("--config", metavar="FILE", help="alerts TOML file (default $LLM_METRICS_ALERTS_FILE)")
    c.add_argument("--dry-run", action="store_true", help="only print the alerts whose condition holds")
    h = actions.add_parser("history", help="alerts fired so far, newest first")
    h.add_argument("--limit", type=int, default=50)
    t = actions.add_parser("test", help="send a test notification to every configured channel")
    t.add_argument("--config", metavar="FILE", help="alerts TOML file (default $LLM_METRICS_ALERTS_FILE)")

    p = sub.add_parser("report", help="monthly report: totals, breakdowns, savings, budgets, availability, errors")
    p.add_argument("--month", type=_month, help="YYYY-MM (default: the current UTC month)")
    p.add_argument("--format", choices=FORMATS, default="md", help="default md")
    p.add_argument("--out", metavar="FILE", help="write to FILE instead of standard output")
    return {"budget": cmd_budget, "alerts": cmd_alerts, "report": cmd_report}


def cmd_budget(engine, args) -> int:
    from ..policy import budgets

    if args.budget_action == "set":
        scope = "all"
        if args.provider:
            scope = f"provider:{args.provider}"
        elif args.model:
            scope = f"model:{args.model}"
        elif args.tag:
            scope = f"tag:{args.tag}"
        b = budgets.set_budget(
            name=args.name,
            amount_usd=args.amount,
            scope=scope,
            period=args.period,
            thresholds=args.thresholds,
            hard=args.hard,
            engine=engine,
        )
        print(
            f"✓ Budget {b.name!r}: {fmt.money(b.amount_usd)} {b.period}, scope {b.scope_label}, "
            f"{'hard' if b.hard else 'soft'}, thresholds {', '.join(f'{t:g}%' for t in b.thresholds)}"
        )
        return 0
    if args.budget_action == "delete":
        if budgets.delete_budget(args.name, engine):
            print(f"✓ Deleted budget {args.name!r}")
            return 0
        print(f"error: no budget named {args.name!r} (see `llm-metrics budget list`)", file=sys.stderr)
        return 1
    rows = [s.as_dict() for s in budgets.statuses(engine=engine)]
    if args.json:
        print(json.dumps(fmt.json_ready(rows), indent=2))
        return 0
    if not rows:
        print("No budgets. Add one: llm-metrics budget set team --amount 100 [--provider claude] [--hard]")
        return 0
    print(
        f"{'name':<18} {'scope':<24} {'period':<10} {'kind':<4} {'limit':>12} {'spent':>12} {'used':>7}  "
        f"{'projected':>12} {'range':<21} {'runs out':<10} state"
    )
    money = {k: fmt.money_column([r[k] for r in rows]) for k in ("amount_usd", "spent_usd", "projected_usd")}
    for i, r in enumerate(rows):
        spread = f"{fmt.money(r['projected_low_usd'], places=2)}-{fmt.money(r['projected_high_usd'], places=2)}"
        print(
            f"{r['name']:<18} {r['scope']:<24} {r['period_label']:<10} {r['kind']:<4} {money['amount_usd'][i]:>12} "
            f"{money['spent_usd'][i]:>12} {fmt.pct(r['percent']):>7}  {money['projected_usd'][i]:>12} "
            f"{spread:<21} {r['run_out_date'] or '-':<10} {r['state']}"
        )
    return 0


def cmd_alerts(engine, args) -> int:
    from .. import alerts

    if args.alerts_action == "history":
        frame = alerts.history(limit=args.limit, engine=engine)
        if frame.empty:
            print("No alerts fired yet.")
            return 0
        for r in frame.itertuples():
            error = f"  ({r.last_error})" if r.last_error else ""
            print(f"{r.fired_at:%Y-%m-%d %H:%M}  {r.rule:<17} {r.status:<11} {r.title}{error}")
        return 0
    cfg = alerts.alert_settings(args.config)
    if args.alerts_action == "test":
        if not cfg.urls:
            print(f"No channels: set {alerts.ENV_URLS} or urls in the alerts file.", file=sys.stderr)
            return 1
        outcome = alerts.send(
            "llm-metrics test alert",
            "If you can read this, llm-metrics alerts reach you.",
            cfg.urls,
            level="info",
            retries=cfg.retries,
            backoff_seconds=cfg.backoff_seconds,
        )
        for url, err in outcome.items():
            print(f"{'✓' if err is None else '✗'} {alerts.channel_label(url)}" + (f": {err}" if err else ""))
        return 0 if all(e is None for e in outcome.values()) else 1
    result = alerts.check(settings=cfg, engine=engine, deliver=not args.dry_run)
    if args.dry_run:
        for a in result.alerts:
            print(f"- [{a.rule}] {a.title}")
        print(f"{len(result.alerts)} alert condition(s) hold; nothing recorded or sent (--dry-run).")
        return 0
    for a in result.fired:
        print(f"! [{a.rule}] {a.title}")
    for f in result.failures:
        print(f"✗ {f['channel']}: {f['error']} ({f['title']})", file=sys.stderr)
    where = f"{result.channels} channel(s)" if result.channels else f"no channels (set {alerts.ENV_URLS})"
    print(
        f"✓ {len(result.alerts)} condition(s) hold, {len(result.fired)} new alert(s), "
        f"{result.delivered} delivered to {where}, {len(result.failures)} channel failure(s)"
    )
    return 1 if result.failures else 0


def cmd_report(engine, args) -> int:
    from .. import reports

    report = reports.monthly_report(args.month, engine=engine)
    text = reports.render(report, args.format)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"✓ Wrote the {report.month_label} report ({args.format}) to {args.out}")
    else:
        sys.stdout.write(text)
    return 0
