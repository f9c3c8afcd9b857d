"""``llm-metrics`` / ``python -m metrics_core``: migrate, demo data, providers, prices, summaries."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
from datetime import date

from .. import __version__, clock
from .. import formatting as fmt

#: modules that add subcommands: each has ``register(subparsers) -> dict[command name, handler]``,
#: a handler being ``handler(engine, args) -> exit code``
COMMAND_MODULES: tuple[str, ...] = (
    "metrics_core.cli.budgets",
    "metrics_core.cli.serve",
    "metrics_core.cli.reconcile",
    "metrics_core.cli.prices",
    "metrics_core.cli.dashboard",
)

EPILOG = "Database: --db URL, or $LLM_METRICS_DB_URL, or sqlite:///data/metrics.db (relative to the working directory)."


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _provider_ref(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm-metrics", description="Record, price and report LLM calls.", epilog=EPILOG
    )
    parser.add_argument("--version", action="version", version=f"llm-metrics {__version__}")
    parser.add_argument("--db", metavar="URL", help="SQLAlchemy database URL (overrides LLM_METRICS_DB_URL)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("migrate", help="create or upgrade the schema, then list every table with its row count")

    p = sub.add_parser("demo", help="fill the database with deterministic demo data")
    p.add_argument("--days", type=_positive, default=90, help="days of history (default 90)")
    p.add_argument("--per-day", type=_positive, default=300, help="calls on a busy weekday (default 300)")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument("--force", action="store_true", help="add demo data even if the database already has calls")

    p = sub.add_parser("summary", help="print the cost and usage summary of the last N days")
    p.add_argument("--days", type=_positive, default=30)
    p.add_argument("--json", action="store_true", help="print the facade's JSON instead of text")

    sub.add_parser("health", help="print overall health as JSON (exit 1 when down)")

    p = sub.add_parser("providers", help="list providers, or change one")
    p.add_argument(
        "action", nargs="?", choices=["list", "enable", "disable", "priority", "local", "remote"], default="list"
    )
    p.add_argument("provider", nargs="?", type=_provider_ref, help="provider id or name")
    p.add_argument("value", nargs="?", type=_positive, help="the new priority, for 'priority'")
    p.add_argument("--days", type=_positive, default=30, help="window of the availability column (default 30)")
    p.add_argument("--json", action="store_true", help="print JSON (the facade's provider dicts plus availability)")

    p = sub.add_parser("reset-circuit", help="close a provider's circuit by hand")
    p.add_argument("provider", type=_provider_ref, help="provider id or name")

    p = sub.add_parser("price", help="show a model's price, or manage custom price overrides")
    p.add_argument("action", choices=["show", "set", "list", "delete"])
    p.add_argument("--provider", default=None, help="provider name (default: * for set/delete, required for show)")
    p.add_argument("--model", help="model name as recorded")
    p.add_argument("--input", type=str, help="USD per million input tokens")
    p.add_argument("--output", type=str, help="USD per million output tokens")
    p.add_argument("--cache-read", type=str, help="USD per million cache-read tokens (default: input price)")
    p.add_argument("--cache-write", type=str, help="USD per million cache-write tokens (default: input price)")

    p = sub.add_parser("rebuild-rollups", help="recompute the daily rollups from raw rows")
    p.add_argument("--start", type=_date)
    p.add_argument("--end", type=_date)

    handlers = {}
    for name in COMMAND_MODULES:
        handlers.update(importlib.import_module(name).register(sub))
    parser.set_defaults(_handlers=handlers)
    return parser


def _progress(total: int | None, desc: str, unit: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=None, file=sys.stderr, dynamic_ncols=True)


CREATES_DATABASE = {"migrate", "demo", "serve"}  # every other command needs the database's folder to exist


def cmd_migrate(engine) -> int:
    from ..storage.migrations import table_counts, upgrade

    before, after = upgrade(engine)
    if before == after:
        print(f"✓ Schema is up to date (revision {after})")
    else:
        print(f"✓ Migration applied successfully ({before or 'empty'} -> {after})")
    print(f"  Database: {engine.url.render_as_string(hide_password=True)}")
    counts = table_counts(engine)
    print(f"\n✓ {len(counts)} tables:")
    for name, n in counts:
        print(f"  - {name} ({n} rows)")
    return 0


def cmd_demo(engine, args) -> int:
    from .. import demo, queries

    existing = queries.request_count(engine=engine)
    if existing and not args.force:
        print(
            f"error: the database already holds {fmt.plural(existing, 'call')}; add --force to add demo data anyway",
            file=sys.stderr,
        )
        return 1
    bar = _progress(None, "demo calls", "calls")

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    n = demo.load(engine, days=args.days, per_day=args.per_day, seed=args.seed, progress=progress)
    bar.close()
    print(f"✓ Wrote {n:,} demo calls over {args.days} days to {engine.url.render_as_string(hide_password=True)}")
    print(f"✓ Budgets: {', '.join(demo.add_budgets(engine))} (see `llm-metrics budget list`)")
    return 0


def cmd_summary(args) -> int:
    from ..service import LLMMetricsService as S

    costs, usage = S.get_cost_summary(args.days), S.get_metrics(args.days)
    if args.json:
        print(json.dumps(fmt.json_ready({"costs": costs, "metrics": usage}), indent=2))
        return 0
    total = costs["total_requests"]
    print(f"Last {args.days} days ({costs['window_start']} to {costs['window_end']}, UTC):")
    print(f"  Total Cost: ${costs['total_cost_usd']:.2f}")
    print(f"  Total Requests: {total}  (success rate {usage['success_rate']:.1f}%)")
    if total:
        print(f"  Local Requests: {costs['local_requests']} ({costs['local_requests'] / total * 100:.1f}%)")
    print(f"  Remote Requests: {costs['remote_requests']}")
    if costs["unpriced_requests"]:
        print(f"  Unpriced Requests: {costs['unpriced_requests']} (no known price; not in the totals)")
    print(f"\n  If all requests used {costs['reference_model']}:")
    print(f"    Hypothetical Cost: ${costs['hypothetical_claude_cost_usd']:.2f}")
    print(f"    Actual Cost: ${costs['total_cost_usd']:.2f}")
    print(f"    Savings: ${costs['estimated_savings_usd']:.2f} ({costs['savings_percentage']:.1f}%)")
    print(
        f"\n  Response time: avg {usage['avg_response_time_ms']:.0f} ms, p50 {usage['p50_response_time_ms']:.0f} ms, "
        f"p95 {usage['p95_response_time_ms']:.0f} ms, p99 {usage['p99_response_time_ms']:.0f} ms"
    )
    return 0


def cmd_providers(engine, args) -> int:
    from .. import queries
    from ..policy import providers

    if args.action != "list":
        if args.provider is None:
            print(f"error: providers {args.action} needs a provider id or name", file=sys.stderr)
            return 2
        if args.action in ("enable", "disable"):
            providers.set_enabled(args.provider, args.action == "enable", engine)
        elif args.action in ("local", "remote"):
            p = providers.set_provider_type(args.provider, args.action, engine)
            print(
                f"✓ {p['display_name']} is {args.action} now: new calls are priced as "
                f"{'local (free)' if args.action == 'local' else 'remote (genai-prices)'}. Costs already stored "
                "change only after `llm-metrics reprice` (e.g. `llm-metrics reprice --start YYYY-MM-DD`)."
            )
        else:
            if args.value is None:
                print(
                    "error: providers priority needs the new priority, e.g. `providers priority claude 1`",
                    file=sys.stderr,
                )
                return 2
            providers.set_priority(args.provider, args.value, engine)
    from .. import formatting
    from ..service import jsonable

    rows = queries.list_providers(engine)
    availability = queries.availability(args.days, engine=engine).set_index("provider")
    for p in rows:
        p["availability_pct"] = float(availability.loc[p["name"], "availability_pct"])
        p["availability_days"] = args.days
    if args.json:
        print(json.dumps(jsonable(rows), indent=2))
        return 0
    print(
        f"{'id':>3}  {'name':<12} {'type':<6} {'prio':>4}  {'enabled':<7} {'circuit':<9} {'fails':>5} "
        f"{'requests':>9} {'cost (all time)':>15} {f'avail. {args.days}d':>11}"
    )
    for p in rows:
        cost = formatting.money(p["total_cost_usd"], missing="unpriced")
        print(
            f"{p['id']:>3}  {p['name']:<12} {p['provider_type']:<6} {p['priority']:>4}  {p['enabled']!s:<7} "
            f"{p['circuit_state']:<9} {p['failure_count']:>5} {p['total_requests']:>9} {cost:>15} "
            f"{formatting.pct(p['availability_pct'], 2):>11}"
        )
    return 0


def cmd_price(engine, args) -> int:
    from ..recording import price_overrides as overrides

    if args.action == "list":
        rows = overrides.list_overrides(engine)
        if not rows:
            print("No custom prices. Costs come from genai-prices.")
        for r in rows:
            print(
                f"{r['provider_name']:<12} {r['model']:<30} input {_per_m(r['input_mtok'])}  "
                f"output {_per_m(r['output_mtok'])}  cache read {_per_m(r['cache_read_mtok'])}  "
                f"cache write {_per_m(r['cache_write_mtok'])}"
            )
        return 0
    if not args.model:
        print(f"error: price {args.action} needs --model", file=sys.stderr)
        return 2
    if args.action == "delete":
        found = overrides.delete_override(model=args.model, provider=args.provider or "*", engine=engine)
        if not found:
            print(f"error: no custom price for {args.model!r} at {args.provider or 'any provider'}", file=sys.stderr)
            return 1
        print("✓ Deleted")
        return 0
    if args.action == "set":
        if args.input is None or args.output is None:
            print("error: price set needs --input and --output (USD per million tokens)", file=sys.stderr)
            return 2
        overrides.set_override(
            model=args.model,
            provider=args.provider or "*",
            input_mtok=args.input,
            output_mtok=args.output,
            cache_read_mtok=args.cache_read,
            cache_write_mtok=args.cache_write,
            engine=engine,
        )
        print(
            f"✓ Custom price set for {args.model} at {args.provider or 'any provider'}. "
            "Run `llm-metrics reprice` to apply it to calls already stored."
        )
        return 0
    return _show_price(args)


def _per_m(value) -> str:
    return "=input" if value is None else f"${value:.4f}/M"


def _show_price(args) -> int:

    from ..config import settings
    from ..pricing import TokenUsage, catalog_price

    if not args.provider:
        print(
            "error: price show needs --provider (a genai-prices provider id or one of ours, e.g. claude)",
            file=sys.stderr,
        )
        return 2
    provider = args.provider.lower()  # provider names are case-insensitive
    pricing_provider = settings().pricing_providers.get(provider, provider)
    now = clock.now()
    probe = 1000  # below every long-context tier; scaled to a million below
    figures = {
        "input": TokenUsage(prompt_tokens=probe),
        "output": TokenUsage(completion_tokens=probe),
        "cache read": TokenUsage(prompt_tokens=probe, cache_read_tokens=probe),
        "cache write": TokenUsage(prompt_tokens=probe, cache_write_tokens=probe),
    }
    prices = {k: catalog_price(pricing_provider, args.model, u, now) for k, u in figures.items()}
    prices = {k: None if v is None else v * (1_000_000 // probe) for k, v in prices.items()}
    if prices["input"] is None:
        print(
            f"error: genai-prices has no price for {args.model!r} at {pricing_provider!r}: calls to it are unpriced "
            "unless you set a custom price (`llm-metrics price set`).",
            file=sys.stderr,
        )
        return 1
    print(f"{args.model} at {pricing_provider}, today (USD per million tokens, below any long-context tier):")
    for k, v in prices.items():
        print(f"  {k:<12} ${v:.4f}")
    return 0


def cmd_maintenance(engine, args) -> int:
    from ..storage import rollups

    bar = _progress(None, "rows", "rows")
    n = rollups.rebuild(engine, args.start, args.end, progress=bar.update)
    bar.close()
    print(f"✓ Rebuilt the daily rollups from {n} calls")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.db:
        os.environ["LLM_METRICS_DB_URL"] = args.db
    from .. import storage
    from ..config import settings
    from ..errors import MetricsError

    if argv is None and hasattr(signal, "SIGPIPE"):
        # `llm-metrics ... | head` ends quietly. Only as the command itself: main([...]) called from a
        # program (or a test) must not change how that process handles a closed socket
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)

    try:
        if args.command == "migrate":
            return cmd_migrate(storage.create(settings().db_url))
        if args.command not in CREATES_DATABASE:
            storage.require_sqlite_folder(settings().db_url)
        engine = storage.get_engine()
        if args.command == "demo":
            return cmd_demo(engine, args)
        if args.command == "summary":
            return cmd_summary(args)
        if args.command == "health":
            from ..service import LLMMetricsService

            result = LLMMetricsService.get_health()
            print(json.dumps(result, indent=2))
            return 1 if result["status"] == "down" else 0
        if args.command == "providers":
            return cmd_providers(engine, args)
        if args.command == "reset-circuit":
            from ..policy import providers

            p = providers.reset_circuit(args.provider, engine)
            print(f"✓ {p['display_name']}: circuit {p['circuit_state']}, failure count {p['failure_count']}")
            return 0
        if args.command == "price":
            return cmd_price(engine, args)
        if args.command in args._handlers:
            return args._handlers[args.command](engine, args)
        return cmd_maintenance(engine, args)
    except (MetricsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
