"""The genai-prices data in use: the bundled data, or a newer data file loaded in its place.

``parse`` validates a genai-prices data file (the ``data.json`` provider array that genai-prices'
own ``UpdatePrices`` fetches), ``install`` makes it the data every price is computed with (genai-prices'
custom snapshot), ``changes`` says what differs between two sets of data, and ``source_label`` names
the data in use for ``price_source`` (``genai-prices:<version>`` for the bundled data,
``genai-prices:<date>`` for a loaded data file).
"""

from __future__ import annotations

import json
from datetime import date
from importlib.metadata import version

from genai_prices import data_snapshot
from genai_prices import types as gp_types

_state: dict = {"label": f"genai-prices:{version('genai_prices')}", "key": None, "as_of": None}
_listeners: list = []


def parse(text: str | bytes) -> list:
    """The providers of a genai-prices data file; ``ValueError`` when it is not one."""
    try:
        raw = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"the price data is not JSON: {exc}") from None
    if not isinstance(raw, list) or not raw:
        raise ValueError("the price data must be genai-prices' provider array (a non-empty JSON list)")
    try:
        # the parser genai-prices' own UpdatePrices.fetch uses
        providers = gp_types._providers_from_raw(raw)
    except Exception as exc:  # pydantic's ValidationError and friends
        raise ValueError(f"the price data is not valid genai-prices data: {str(exc)[:500]}") from None
    if not any(p.models for p in providers):
        raise ValueError("the price data holds no models")
    return providers


def bundled() -> list:
    """The providers of the data bundled with the installed genai-prices."""
    return data_snapshot._bundled_snapshot().providers


def in_use() -> list:
    """The providers every price is computed with now."""
    return data_snapshot.get_snapshot().providers


def install(providers: list | None, *, label: str | None = None, key=None, as_of: date | None = None) -> None:
    """Price with ``providers`` from now on (None: the bundled data again)."""
    if providers is None:
        data_snapshot.set_custom_snapshot(None)
        _state.update(label=f"genai-prices:{version('genai_prices')}", key=None, as_of=None)
    else:
        data_snapshot.set_custom_snapshot(data_snapshot.DataSnapshot(providers=providers, from_auto_update=False))
        _state.update(label=label or "genai-prices:custom", key=key, as_of=as_of)
    for listener in _listeners:
        listener()


def on_install(listener) -> None:
    """Call ``listener()`` whenever other data is installed (pricing caches clear themselves)."""
    _listeners.append(listener)


def source_label() -> str:
    """``price_source`` for a call genai-prices priced with the data in use."""
    return _state["label"]


def installed_key():
    """The key given to ``install`` (the stored data's id), None for the bundled data."""
    return _state["key"]


def as_of(providers: list | None = None) -> date | None:
    """The date of the data: the day a loaded file was stored, or for the bundled data the latest
    date any of its prices starts on (the data is at least that recent)."""
    if providers is None and _state["as_of"] is not None:
        return _state["as_of"]
    latest = None
    for provider in providers if providers is not None else in_use():
        for model in provider.models:
            constraints = [] if isinstance(model.prices, gp_types.ModelPrice) else [c.constraint for c in model.prices]
            constraints += [v.constraint for v in model.price_variants or ()]
            for c in constraints:
                if isinstance(c, gp_types.StartDateConstraint) and (latest is None or c.start_date > latest):
                    latest = c.start_date
    return latest


def _prices(providers: list) -> dict[tuple[str, str], str]:
    return {(p.id, m.id): repr((m.prices, m.price_variants)) for p in providers for m in p.models}


def changes(old: list, new: list) -> dict[str, list[str]]:
    """``{"added": [...], "removed": [...], "changed": [...]}``, each ``provider/model``, sorted."""
    before, after = _prices(old), _prices(new)
    return {
        "added": sorted(f"{p}/{m}" for p, m in after.keys() - before.keys()),
        "removed": sorted(f"{p}/{m}" for p, m in before.keys() - after.keys()),
        "changed": sorted(f"{p}/{m}" for (p, m), v in after.items() if (p, m) in before and before[(p, m)] != v),
    }
