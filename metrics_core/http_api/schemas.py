"""The HTTP API's request and response models (the OpenAPI document is generated from them)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool

from ..recording import validate
from ..recording.record import MAX_RESPONSE_ID

Tokens = Annotated[int, Field(ge=0, le=validate.MAX_TOKENS, strict=True)]
Seconds = Annotated[float | None, Field(ge=0, le=validate.MAX_SECONDS, strict=True)]
TagKey = Annotated[str, Field(min_length=1, max_length=validate.MAX_TAG_KEY)]
TagValue = Annotated[str, Field(max_length=validate.MAX_TAG_VALUE)]


class RecordIn(BaseModel):
    """One LLM call, with the arguments of ``metrics_core.record_request``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "provider_name": "claude",
                "model": "claude-sonnet-4-5",
                "status": "success",
                "prompt_tokens": 1200,
                "completion_tokens": 300,
                "duration_seconds": 1.8,
                "endpoint": "/v1/messages",
                "tags": {"project": "search"},
                "service_tier": "default",
                "usage_details": {"cache_write_1h_tokens": 0, "web_searches": 1},
            },
        },
    )

    provider_name: Annotated[str, Field(min_length=1, max_length=validate.MAX_NAME, strict=True)]
    model: Annotated[str, Field(min_length=1, max_length=validate.MAX_MODEL, strict=True)]
    status: Literal[validate.STATUSES]  # type: ignore[valid-type]
    prompt_tokens: Annotated[Tokens | None, Field(description="null: usage not known (stored unpriced)")] = 0
    completion_tokens: Annotated[Tokens | None, Field(description="null: usage not known (stored unpriced)")] = 0
    cache_read_tokens: Tokens = 0
    cache_write_tokens: Tokens = 0
    reasoning_tokens: Tokens = 0
    duration_seconds: Seconds = None
    time_to_first_token_seconds: Seconds = None
    response_id: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=MAX_RESPONSE_ID,
            strict=True,
            description="the provider's response id: a call with the same provider and id recorded within the "
            "last 10 minutes by this server is not stored again",
        ),
    ] = None
    endpoint: Annotated[str | None, Field(max_length=validate.MAX_ENDPOINT, strict=True)] = None
    error_message: Annotated[str | None, Field(strict=True)] = None
    tags: Annotated[dict[TagKey, TagValue] | None, Field(max_length=validate.MAX_TAGS)] = None
    timestamp: Annotated[
        AwareDatetime | None,
        Field(
            description="when the call started (ISO 8601 with a UTC offset, from 2000 to a day from now); default: now"
        ),
    ] = None
    service_tier: Annotated[
        Literal[validate.SERVICE_TIER_CHOICES] | None,  # type: ignore[valid-type]
        Field(description="the tier that served the call ('auto' = default); null: not said"),
    ] = None
    usage_details: Annotated[
        dict[str, Tokens] | None,
        Field(
            max_length=len(validate.USAGE_DETAIL_KEYS),
            description="further billable quantities by genai-prices usage name: "
            + ", ".join(validate.USAGE_DETAIL_KEYS),
        ),
    ] = None


class EnableIn(BaseModel):
    """``{"enabled": true}`` or ``{"enabled": false}`` (1 and 0 too, as the original service took)."""

    model_config = ConfigDict(extra="forbid")
    enabled: StrictBool | Literal[0, 1]


class Recorded(BaseModel):
    recorded: int = Field(description="calls stored")


# Documentation of the facade's dicts (responses are returned as the facade makes them).
class Breakdown(BaseModel):
    """A row of a breakdown, with the keys of the facade's dicts."""

    model_config = ConfigDict(extra="allow")


class ProviderOut(Breakdown):
    id: int
    name: str
    display_name: str
    provider_type: str
    priority: int
    enabled: bool
    is_available: bool
    circuit_state: str
    failure_count: int
    total_requests: int
    successful_requests: int
    failed_requests: int
    avg_response_time_ms: float
    total_cost_usd: float | None = Field(description="null when none of its calls could be priced")


class UsageOut(Breakdown):
    total_requests: int
    successful_requests: int
    failed_requests: int
    success_rate: float
    total_prompt_tokens: int
    total_completion_tokens: int
    total_tokens: int
    avg_response_time_ms: float
    p50_response_time_ms: float
    p95_response_time_ms: float
    p99_response_time_ms: float


class MetricsOut(UsageOut):
    by_provider: list[UsageOut]
    by_model: list[UsageOut]


class CostsOut(Breakdown):
    total_cost_usd: float
    total_requests: int
    local_requests: int
    remote_requests: int
    hypothetical_claude_cost_usd: float
    estimated_savings_usd: float
    savings_percentage: float
    unpriced_requests: int
    by_provider: list[Breakdown]
    by_model: list[Breakdown]


class TrendDay(Breakdown):
    date: str
    requests: int
    successful_requests: int
    failed_requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None = Field(description="null on a day none of whose calls could be priced")
    hypothetical_cost_usd: float


class TrendsOut(Breakdown):
    daily: list[TrendDay]
    by_provider: list[Breakdown]


class AvailabilityOut(Breakdown):
    provider: str
    availability_pct: float = Field(description="share of the window the circuit was closed, up to now")
    open_minutes: float = Field(description="time the circuit was not closed (open or half-open)")
    openings: int = Field(description="outages that began in the window")


class HealthOut(Breakdown):
    status: Literal["healthy", "degraded", "down"]
    providers_total: int
    providers_enabled: int
    providers_available: int
    open_circuits: list[str]
    recent_success_rate: float | None


class Problem(BaseModel):
    detail: Any


ERRORS = {
    401: {"model": Problem, "description": "missing or invalid bearer token"},
    403: {"model": Problem, "description": "the token's scope does not allow this"},
    503: {"model": Problem, "description": "the database is unavailable; retry later"},
}
"""The error responses every authenticated endpoint documents."""
