"""CLI commands for price data and repricing: ``prices update``, ``prices status``, ``reprice``."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def register(sub) -> dict:
    """Add ``prices`` and ``reprice`` to the ``llm-metrics`` parser."""
    p = sub.add_parser("prices", help="update the genai-prices data this database prices with, or show it")
    actions = p.add_subparsers(dest="prices_action", required=True, metavar="ACTION")
    u = actions.add_parser(
        "update", help="fetch or read a genai-prices data file, validate it, store it for every process, show changes"
    )
    where = u.add_mutually_exclusive_group()
    where.add_argument("--url", help="where to fetch the data file (default: genai-prices' published data.json)")
    where.add_argument("--file", type=Path, help="read the data file from FILE instead")
    actions.add_parser("status", help="the price data in use, where it came from and its age")

    p = sub.add_parser("reprice", help="price stored calls again (after price data or overrides changed)")
    p.add_argument("--start", type=_date, help="first day, YYYY-MM-DD (default: first day with data)")
    p.add_argument("--end", type=_date, help="last day, YYYY-MM-DD (default: last day with data)")
    p.add_argument("--dry-run", action="store_true", help="only show, per model, the calls and money that would change")
    return {"prices": cmd_prices, "reprice": cmd_reprice}


def _names(names: list[str], limit: int = 20) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def cmd_prices(engine, args) -> int:
    from ..queries.price_data import STALE_DAYS, price_data_status
    from ..recording import price_data

    if args.prices_action == "status":
        s = price_data_status(engine)
        print(f"Price data in use: {s['label']}")
        print(f"  Source: {s['source']}")
        if s["stored_at"] is not None:
            print(f"  Stored: {s['stored_at']:%Y-%m-%d %H:%M} UTC (sha256 {s['sha256'][:12]})")
        age = "unknown" if s["age_days"] is None else f"{s['age_days']} days"
        print(f"  As of: {s['as_of']} ({age} old)  Models: {s['models']}")
        if s["stale"]:
            print(f"  ! older than {STALE_DAYS} days: run `llm-metrics prices update`")
        return 0
    if args.file is not None:
        try:
            data, source = args.file.read_bytes(), str(args.file.resolve())
        except OSError as exc:
            raise ValueError(f"cannot read --file {args.file}: {exc.strerror}") from None
    else:
        source = args.url or price_data.DEFAULT_URL
        print(f"Fetching {source} ...", file=sys.stderr)
        data = price_data.fetch(source)
    with engine.connect() as conn:
        price_data.activate(conn)  # compare with what this database priced with until now
    result = price_data.store(engine, data, source)
    print(f"✓ Stored price data #{result['id']} ({result['models']} models) from {source}")
    if result["unchanged"]:
        print("  No model added, removed or repriced.")
    for key, what in (("added", "Models added"), ("removed", "Models removed"), ("changed", "Prices changed")):
        if result[key]:
            print(f"  {what} ({len(result[key])}): {_names(result[key])}")
    print("Every process of this database prices new calls with it within 30 seconds.")
    if not result["unchanged"]:
        print("Run `llm-metrics reprice --dry-run` to see what it changes for calls already stored.")
    return 0


class _Progress:
    """Progress on standard error: a tqdm bar on a terminal; quiet when piped (cron, scripts)."""

    def __init__(self, what: str) -> None:
        self.what, self.done, self.bar = what, 0, None
        self.last = time.monotonic()
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(desc=what, unit="calls", file=sys.stderr)

    def __call__(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def cmd_reprice(engine, args) -> int:
    from ..recording import reprice

    bar = _Progress("checking" if args.dry_run else "repricing")
    result = reprice.reprice(engine, args.start, args.end, progress=bar, dry_run=args.dry_run)
    bar.close()
    if args.dry_run:
        print(f"Dry run: {result['changed']} of {result['rows']} calls would change (nothing written).")
        if result["models"]:
            print(f"  {'provider':<12} {'model':<36} {'calls':>7} {'cost before':>14} {'cost after':>14}")
        for (provider, model), m in sorted(result["models"].items()):
            print(
                f"  {provider:<12} {model:<36} {m['changed']:>7} ${m['cost_before']:>13.6f} ${m['cost_after']:>13.6f}"
            )
        print(f"  Total cost ${result['cost_before']:.6f} -> ${result['cost_after']:.6f}")
        return 0
    print(
        f"✓ Repriced {result['rows']} calls, {result['changed']} changed. "
        f"Total cost ${result['cost_before']:.6f} -> ${result['cost_after']:.6f}"
    )
    return 0
