"""CLI command ``reconcile``: pull what OpenAI or Anthropic billed and compare it with the recorded calls.

The admin key comes from ``OPENAI_ADMIN_KEY`` / ``ANTHROPIC_ADMIN_KEY`` only: it is never a
command-line argument (shell history, ``ps``), never stored and never printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, timedelta
from decimal import Decimal

from .. import formatting as fmt
from ..money import as_float

PROVIDERS = ("openai", "anthropic")
DEFAULT_TIMEOUT = 30.0
GAP_ROWS = 10


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of days, got {text!r}") from None
    if not 1 <= value <= 366:
        raise argparse.ArgumentTypeError(f"expected a number of days from 1 to 366, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0 and at most 600, got {text}")
    return value


def register(sub) -> dict:
    """Add ``reconcile`` to the ``llm-metrics`` parser."""
    p = sub.add_parser(
        "reconcile",
        help="pull a provider's billed usage and cost (admin key from the environment) and compare it with "
        "the recorded calls",
    )
    p.add_argument("--provider", required=True, choices=PROVIDERS, help="whose usage and cost reports to pull")
    p.add_argument(
        "--days",
        type=_days,
        default=30,
        help="the last N complete UTC days (default 30; today is left out, its report is still growing)",
    )
    p.add_argument("--json", action="store_true", help="print the figures as JSON (for scripts)")
    p.add_argument(
        "--timeout", type=_seconds, default=DEFAULT_TIMEOUT, help=f"seconds per request (default {DEFAULT_TIMEOUT:g})"
    )
    p.add_argument("--stored", action="store_true", help="compare what is already stored, without pulling")
    p.add_argument("--base-url", help=argparse.SUPPRESS)  # tests: a local server instead of the provider
    return {"reconcile": cmd_reconcile}


def _progress(provider: str):
    """A page counter on stderr when it is a terminal (quiet when piped), fed by an httpx hook."""
    from tqdm import tqdm

    bar = tqdm(desc=f"{provider} report pages", unit="page", disable=None, file=sys.stderr, leave=False)

    def on_response(response) -> None:
        bar.set_postfix_str(response.request.url.path, refresh=False)
        bar.update(1)

    return bar, on_response


def cmd_reconcile(engine, args) -> int:
    import httpx

    from ..integrations.billing.reconcile import last_days, pull_and_store
    from ..queries import Window, billing

    start, end = last_days(args.days)
    stored = None
    if not args.stored:
        bar, hook = _progress(args.provider)
        try:
            with httpx.Client(event_hooks={"response": [hook]}) as client:
                stored = pull_and_store(
                    provider=args.provider,
                    start=start,
                    end=end,
                    client=client,
                    base_url=args.base_url,
                    timeout=args.timeout,
                    engine=engine,
                )
        finally:
            bar.close()
    result = billing.reconciliation(window=Window(start, end - timedelta(days=1)), providers=[args.provider])
    gaps = billing.largest_gaps(result, GAP_ROWS)
    if args.json:
        print(json.dumps(_jsonable({"pull": _pull_dict(stored), **result, "largest_gaps": gaps}), indent=2))
        return 0
    if stored is not None:
        print(
            f"✓ Pulled {args.provider} billing for {stored.first_day} to {stored.last_day} ({stored.days} days): "
            f"{stored.model_rows} model rows, {stored.other_rows} other line items"
        )
        if stored.unmatched_models:
            print(f"  Billed models never recorded: {', '.join(stored.unmatched_models)}")
    if not result["providers"]:
        print(f"No billed figures stored for {args.provider} in {start} to {end - timedelta(days=1)}.")
        return 0
    (overall,) = result["providers"]
    print(
        f"{args.provider}, {overall['days_pulled']} days: recorded {fmt.money(overall['recorded_cost_usd'])} vs "
        f"billed {fmt.money(overall['billed_cost_usd'])} (drift {_signed(overall['drift_pct'])}); "
        f"tokens {fmt.count(overall['recorded_tokens'])} of {fmt.count(overall['billed_tokens'])} "
        f"(coverage {fmt.pct(overall['coverage_pct'])})"
    )
    if overall["other_cost_usd"]:
        print(f"  Billed outside any model (tool fees, models without usage): {fmt.money(overall['other_cost_usd'])}")
    if gaps:
        print(
            f"\nLargest gaps:\n{'day':<10}  {'model':<28} {'recorded':>10} {'billed':>10} {'coverage':>9} {'drift':>8}"
        )
        for r in gaps:
            print(
                f"{r['day']!s:<10}  {r['model'][:28]:<28} {fmt.money(r['recorded_cost_usd']):>10} "
                f"{fmt.money(r['billed_cost_usd']):>10} {fmt.pct(r['coverage_pct']):>9} {_signed(r['drift_pct']):>8}"
            )
    print(f"\n{result['explanation']}")
    return 0


def _signed(value) -> str:
    return fmt.DASH if value is None else f"{float(value):+.1f}%"


def _pull_dict(stored) -> dict | None:
    if stored is None:
        return None
    return {
        "provider": stored.provider,
        "first_day": stored.first_day,
        "last_day": stored.last_day,
        "days": stored.days,
        "model_rows": stored.model_rows,
        "other_rows": stored.other_rows,
        "unmatched_models": list(stored.unmatched_models),
    }


def _jsonable(value):
    """Decimals as floats (6 places), days as ISO text, recursively."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return as_float(value)
    if isinstance(value, date):
        return value.isoformat()
    return value
