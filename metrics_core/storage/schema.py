"""The schema (SQLAlchemy Core tables): the only module that knows the tables' shapes.

The tables keep the names of the original guide (``llm_providers``, ``llm_provider_health``,
``llm_requests``, ``llm_costs_daily``) and add what the design needs. The schema is created and
upgraded by the Alembic revisions in ``metrics_core/storage/migrations``; ``ensure_schema`` runs them
on first use (``engines.get_engine``), so a fresh database works without a manual step.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    true,
)

metadata = MetaData()

#: money columns: exact on PostgreSQL, REAL on SQLite (read back as Decimal, 10 places)
Money = Numeric(20, 10)

providers = Table(
    "llm_providers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("provider_type", String(10), nullable=False),  # local | remote
    Column("pricing_provider", String(100)),  # genai-prices provider id; NULL = none
    Column("priority", Integer, nullable=False, default=100),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("created_at", DateTime, nullable=False),
)

provider_health = Table(
    "llm_provider_health",
    metadata,
    Column("provider_id", Integer, ForeignKey("llm_providers.id"), primary_key=True),
    Column("is_available", Boolean, nullable=False, default=True),
    Column("circuit_state", String(10), nullable=False, default="closed"),
    Column("failure_count", Integer, nullable=False, default=0),
    Column("last_success_at", DateTime),
    Column("last_failure_at", DateTime),
    Column("opened_at", DateTime),
    Column("updated_at", DateTime),
)

requests = Table(
    "llm_requests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("timestamp", DateTime, nullable=False),  # UTC
    Column("provider_id", Integer, ForeignKey("llm_providers.id"), nullable=False),
    Column("model", String(200), nullable=False),
    Column("status", String(20), nullable=False),
    Column("endpoint", String(500)),
    Column("prompt_tokens", BigInteger, nullable=False, default=0),
    Column("completion_tokens", BigInteger, nullable=False, default=0),
    Column("cache_read_tokens", BigInteger, nullable=False, default=0),
    Column("cache_write_tokens", BigInteger, nullable=False, default=0),
    Column("reasoning_tokens", BigInteger, nullable=False, default=0),
    Column("duration_ms", Float),
    Column("ttft_ms", Float),
    Column("cost_usd", Money),  # NULL = unpriced
    Column("reference_cost_usd", Money),
    Column("price_source", String(50)),  # genai-prices:<data> | override:<id> | local | unpriced
    Column("error_message", Text),
    Column("tags", Text),  # JSON object of str -> str, NULL when none
    Column("service_tier", String(20)),  # default | priority | flex | batch; NULL = not said (revision 0004)
    Column("usage_details", Text),  # JSON object of genai-prices usage names -> whole numbers, NULL when none
    Column("usage_known", Boolean, nullable=False, default=True, server_default=true()),  # False: unpriced
    Index("ix_llm_requests_timestamp", "timestamp"),
    Index("ix_llm_requests_provider_timestamp", "provider_id", "timestamp"),
)

_daily_measures = (
    ("requests", BigInteger),
    ("successful_requests", BigInteger),
    ("failed_requests", BigInteger),
    ("prompt_tokens", BigInteger),
    ("completion_tokens", BigInteger),
    ("cache_read_tokens", BigInteger),
    ("cache_write_tokens", BigInteger),
    ("reasoning_tokens", BigInteger),
    ("cost_usd", Money),  # over priced calls
    ("reference_cost_usd", Money),  # over every call
    ("priced_reference_cost_usd", Money),  # over priced calls: what savings compare against
    ("unpriced_requests", BigInteger),
    ("duration_count", BigInteger),
    ("duration_sum_ms", Float),
    ("ttft_count", BigInteger),
    ("ttft_sum_ms", Float),
)

#: names of the additive measures kept per day in the rollups
DAILY_MEASURES = tuple(name for name, _ in _daily_measures)


def _measures():
    return [Column(name, type_, nullable=False, default=0) for name, type_ in _daily_measures]


costs_daily = Table(
    "llm_costs_daily",
    metadata,
    Column("day", Date, primary_key=True),
    Column("provider_id", Integer, ForeignKey("llm_providers.id"), primary_key=True),
    Column("model", String(200), primary_key=True),
    *_measures(),
)

tag_costs_daily = Table(
    "llm_tag_costs_daily",
    metadata,
    Column("day", Date, primary_key=True),
    Column("tag_key", String(100), primary_key=True),
    Column("tag_value", String(200), primary_key=True),
    Column("provider_id", Integer, ForeignKey("llm_providers.id"), primary_key=True),
    Column("model", String(200), primary_key=True),
    *_measures(),
)

latency_daily = Table(
    "llm_latency_daily",
    metadata,
    Column("day", Date, primary_key=True),
    Column("provider_id", Integer, ForeignKey("llm_providers.id"), primary_key=True),
    Column("model", String(200), primary_key=True),
    Column("kind", String(10), primary_key=True),  # duration | ttft
    Column("bucket", Integer, primary_key=True),  # see metrics_core.latency
    Column("count", BigInteger, nullable=False, default=0),
)

circuit_events = Table(
    "llm_circuit_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("provider_id", Integer, ForeignKey("llm_providers.id"), nullable=False),
    Column("at", DateTime, nullable=False),
    Column("from_state", String(10), nullable=False),
    Column("to_state", String(10), nullable=False),
    Column("reason", String(200), nullable=False),
    Index("ix_llm_circuit_events_provider_at", "provider_id", "at"),
)

price_overrides = Table(
    "llm_price_overrides",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("provider_name", String(100), nullable=False),  # our provider name, or '*'
    Column("model", String(200), nullable=False),
    Column("input_mtok", Money, nullable=False),
    Column("output_mtok", Money, nullable=False),
    Column("cache_read_mtok", Money),  # NULL = same as input
    Column("cache_write_mtok", Money),  # NULL = same as input
    Column("created_at", DateTime, nullable=False),
)

recorder_faults = Table(
    "llm_recorder_faults",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime, nullable=False),
    Column("process", String(200), nullable=False),  # host:pid
    Column("kind", String(20), nullable=False),  # dropped | write_error
    Column("count", BigInteger, nullable=False),
    Column("detail", Text),
)

api_tokens = Table(
    "llm_api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),  # sha256 hex; the token itself is never stored
    Column("prefix", String(16), nullable=False),  # the token's first characters, to recognise it in lists
    Column("scope", String(10), nullable=False),  # read | write
    Column("created_at", DateTime, nullable=False),
    Column("last_used_at", DateTime),
    Column("revoked_at", DateTime),  # NULL = active
    Index("ix_llm_api_tokens_name", "name"),
)

DEFAULT_PROVIDERS = (
    # name, display_name, provider_type, pricing_provider, priority
    ("ollama", "Ollama (Local)", "local", None, 1),
    ("localai", "LocalAI", "local", None, 2),
    ("claude", "Claude (Anthropic)", "remote", "anthropic", 3),
    ("openai", "OpenAI GPT-4", "remote", "openai", 4),
)

# -- budgets and alerts (revision 0002) --------------------------------------------------------

budgets = Table(
    "llm_budgets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("scope", String(10), nullable=False),  # all | provider | model | tag
    Column("scope_key", String(100)),  # the tag key, for scope 'tag'
    Column("scope_value", String(200)),  # provider name, model or tag value; NULL for 'all'
    Column("amount_usd", Money, nullable=False),
    Column("period", String(10), nullable=False),  # daily | weekly | monthly
    Column("thresholds", String(100), nullable=False),  # percents, comma separated: "50,80,100"
    Column("hard", Boolean, nullable=False, default=False),  # hard = enforced by check_budget / pick_provider
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

alert_history = Table(
    "llm_alert_history",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("dedup_key", String(300), nullable=False, unique=True),  # rule|subject|threshold|period: fires once
    Column("rule", String(30), nullable=False),  # see metrics_core.alerts.RULES
    Column("subject", String(300), nullable=False),  # budget name, provider, provider/model
    Column("period", String(30), nullable=False),  # the period the alert belongs to, e.g. 2026-11, 2026-11-29T14
    Column("threshold", Float),  # percent, for rules that have one
    Column("value", Float),  # what was observed: percent of budget, error rate ...
    Column("title", String(300), nullable=False),
    Column("message", Text, nullable=False),
    Column("fired_at", DateTime, nullable=False),
    Column("status", String(20), nullable=False),  # pending | sending | sent | failed | no_channels
    Column("attempts", Integer, nullable=False, default=0),
    Column("claimed_at", DateTime),  # when a check took it for delivery (status 'sending')
    Column("pending_channels", Text),  # JSON list of channel ids not yet delivered to
    Column("delivered_at", DateTime),
    Column("last_error", Text),
    Index("ix_llm_alert_history_fired_at", "fired_at"),
)

# -- price data (revision 0004) ----------------------------------------------------------------

price_data = Table(
    "llm_price_data",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("stored_at", DateTime, nullable=False),
    Column("source", String(1000), nullable=False),  # the URL or file it came from
    Column("sha256", String(64), nullable=False),
    Column("models", Integer, nullable=False),
    Column("data", Text, nullable=False),  # the genai-prices data file (JSON provider array)
)

# -- billed figures (revision 0006) ------------------------------------------------------------

#: billing providers whose usage and cost reports ``llm-metrics reconcile`` pulls
BILLING_PROVIDERS = ("openai", "anthropic")

billed_days = Table(
    "llm_billed_days",
    metadata,
    Column("provider", String(20), primary_key=True),  # a BILLING_PROVIDERS name
    Column("day", Date, primary_key=True),  # UTC day pulled whole (it may have no billed rows)
    Column("pulled_at", DateTime, nullable=False),
)

billed_daily = Table(
    "llm_billed_daily",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("provider", String(20), nullable=False),
    Column("day", Date, nullable=False),
    Column("kind", String(10), nullable=False),  # model | other (a tool fee, a model without usage row)
    Column("billed_model", String(300), nullable=False),  # the billed (dated) name, or the line item
    Column("recorded_model", String(200)),  # the recorded name it matches; NULL = none
    Column("input_tokens", BigInteger, nullable=False, default=0),  # uncached input
    Column("cached_input_tokens", BigInteger, nullable=False, default=0),  # cache reads
    Column("cache_write_tokens", BigInteger, nullable=False, default=0),
    Column("output_tokens", BigInteger, nullable=False, default=0),
    Column("requests", BigInteger),  # NULL = the report does not count requests
    Column("cost_usd", Money),  # NULL = unknown (no cost line), never 0
    Column("pulled_at", DateTime, nullable=False),
    Index("ux_llm_billed_daily_line", "provider", "day", "kind", "billed_model", unique=True),
)

# -- budget holds (revision 0005) ----------------------------------------------------------------

budget_holds = Table(
    "llm_budget_holds",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("reservation", String(32), nullable=False),  # one reservation holds against several budgets
    Column("budget_id", Integer),  # the hard budget held against; NULL = none covers the call (HTTP API)
    Column("amount_usd", Money, nullable=False),  # the call's worst-case cost
    Column("provider_name", String(100), nullable=False),
    Column("model", String(200), nullable=False),
    Column("tags", Text),  # JSON object, or NULL
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),  # after this the hold no longer counts (process died)
    Index("ix_llm_budget_holds_budget_expires", "budget_id", "expires_at"),
    Index("ix_llm_budget_holds_reservation", "reservation"),
)
