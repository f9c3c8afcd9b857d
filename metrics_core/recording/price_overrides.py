"""Custom prices: per (provider, model), in USD per million tokens; they beat genai-prices.

Use them for negotiated rates, fine-tuned or self-hosted remote models, or models genai-prices does
not know yet. Writers in other processes pick a change up within 30 seconds; ``reprice`` applies it
to calls already stored.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from sqlalchemy import delete, select

from .. import storage
from ..clock import utc_now
from .writer import refresh_caches


def _provider(provider) -> str:
    if not isinstance(provider, str) or not provider.strip():
        raise ValueError(f"provider must be a provider name or '*', got {provider!r}")
    return provider.strip().lower()  # provider names are case-insensitive


def _price(field: str, value) -> Decimal | None:
    if value is None:
        return None
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{field} must be a number of USD per million tokens, got {value!r}") from None
    if not d.is_finite() or d < 0:
        raise ValueError(f"{field} must be a finite number >= 0 (USD per million tokens), got {value!r}")
    return d


def set_override(
    *,
    model: str,
    input_mtok,
    output_mtok,
    cache_read_mtok=None,
    cache_write_mtok=None,
    provider: str = "*",
    engine=None,
) -> dict:
    """Set the price of ``model`` at ``provider`` (``*`` = any provider); replaces an earlier one.

    Args:
        model: the model name exactly as recorded.
        input_mtok: USD per million uncached input tokens.
        output_mtok: USD per million output tokens.
        cache_read_mtok: USD per million cache-read tokens (default: the input price).
        cache_write_mtok: USD per million cache-write tokens (default: the input price).
        provider: our provider name (``claude``, ``openai``...) or ``*``.
    """
    if not isinstance(model, str) or not model.strip():
        raise ValueError(f"model must be a non-empty string, got {model!r}")
    provider = _provider(provider)
    values = dict(
        provider_name=provider,
        model=model,
        input_mtok=_price("input_mtok", input_mtok),
        output_mtok=_price("output_mtok", output_mtok),
        cache_read_mtok=_price("cache_read_mtok", cache_read_mtok),
        cache_write_mtok=_price("cache_write_mtok", cache_write_mtok),
        created_at=utc_now(),
    )
    if values["input_mtok"] is None or values["output_mtok"] is None:
        raise ValueError("input_mtok and output_mtok are required")
    engine = engine if engine is not None else storage.get_engine()
    o = storage.price_overrides
    with engine.begin() as conn:
        conn.execute(delete(o).where(o.c.provider_name == provider, o.c.model == model))
        conn.execute(o.insert().values(**values))
    refresh_caches()
    return values


def list_overrides(engine=None) -> list[dict]:
    """Every custom price."""
    engine = engine if engine is not None else storage.get_engine()
    o = storage.price_overrides
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(o).order_by(o.c.provider_name, o.c.model))]


def delete_override(*, model: str, provider: str = "*", engine=None) -> bool:
    """Remove a custom price; True if there was one."""
    engine = engine if engine is not None else storage.get_engine()
    provider = _provider(provider)
    o = storage.price_overrides
    with engine.begin() as conn:
        n = conn.execute(delete(o).where(o.c.provider_name == provider, o.c.model == model)).rowcount
    refresh_caches()
    return bool(n)
