"""Hard-budget reservations over HTTP, for services in other languages (write scope).

``POST /api/llm/reservations`` holds a call's worst-case cost against the hard budgets covering it
(409 when one would be exceeded: call nothing); ``POST /api/llm/reservations/{id}/settle`` records
the call and releases the hold; ``DELETE /api/llm/reservations/{id}`` releases it (no call was
made). A reservation never settled stops counting after ``LLM_METRICS_RESERVATION_TTL`` seconds.
``create_app`` includes this router with the write-token dependency.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ..errors import BudgetExceeded
from ..policy.reservations import Reservation, reserve
from ..recording import validate

router = APIRouter(prefix="/api/llm/reservations", tags=["write"])

Tokens = Annotated[int, Field(ge=0, le=validate.MAX_TOKENS, strict=True)]
Seconds = Annotated[float | None, Field(ge=0, le=validate.MAX_SECONDS, strict=True)]
Tags = Annotated[
    dict[
        Annotated[str, Field(min_length=1, max_length=validate.MAX_TAG_KEY)],
        Annotated[str, Field(max_length=validate.MAX_TAG_VALUE)],
    ]
    | None,
    Field(max_length=validate.MAX_TAGS),
]
ReservationId = Annotated[str, Path(pattern="^[0-9a-f]{32}$", description="the id POST /api/llm/reservations returned")]


class ReserveIn(BaseModel):
    """A call about to be made: its provider, model, prompt size (or text) and output bound."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "provider_name": "openai",
                "model": "gpt-4o",
                "prompt_tokens": 4000,
                "max_output_tokens": 4000,
                "tags": {"project": "search"},
            }
        },
    )

    provider_name: Annotated[str, Field(min_length=1, max_length=validate.MAX_NAME, strict=True)]
    model: Annotated[str, Field(min_length=1, max_length=validate.MAX_MODEL, strict=True)]
    max_output_tokens: Tokens
    prompt_tokens: Tokens | None = None
    prompt_text: Annotated[
        str | None, Field(max_length=10_000_000, description="the request's text, when prompt_tokens is unknown")
    ] = None
    tags: Tags = None
    ttl_seconds: Annotated[float | None, Field(gt=0, le=86_400, strict=True)] = None


class HoldOut(BaseModel):
    budget: str
    amount_usd: float


class ReservationOut(BaseModel):
    id: str = Field(description="settle or release with this id")
    provider_name: str
    model: str
    worst_case_usd: float | None = Field(description="the call's worst-case cost; null = the model is unpriced")
    holds: list[HoldOut] = Field(description="one per hard budget covering the call")


class SettleIn(BaseModel):
    """The call as made: ``record_request``'s arguments (provider, model and tags come from the reservation)."""

    model_config = ConfigDict(extra="forbid")

    status: Literal[validate.STATUSES]  # type: ignore[valid-type]
    prompt_tokens: Tokens = 0
    completion_tokens: Tokens = 0
    cache_read_tokens: Tokens = 0
    cache_write_tokens: Tokens = 0
    reasoning_tokens: Tokens = 0
    duration_seconds: Seconds = None
    time_to_first_token_seconds: Seconds = None
    endpoint: Annotated[str | None, Field(max_length=validate.MAX_ENDPOINT, strict=True)] = None
    error_message: Annotated[str | None, Field(strict=True, max_length=100_000)] = None


class SettledOut(BaseModel):
    id: str
    recorded: int = Field(description="calls stored (1 when settled, 0 when released)")


class BudgetProblem(BaseModel):
    detail: str
    budget: str
    limit_usd: float
    spent_usd: float
    held_usd: float
    requested_usd: float


class Problem(BaseModel):
    detail: str | list


_UNKNOWN = {404: {"model": Problem, "description": "no such reservation (settled, released or never made)"}}
_INVALID = {
    400: {"model": Problem, "description": "the body is not JSON"},
    422: {"model": Problem, "description": "invalid arguments; nothing held or recorded"},
}


def _engine(request: Request):
    return request.app.state.engine


def _load(request: Request, reservation_id: str) -> Reservation:
    found = Reservation.load(reservation_id, _engine(request))
    if found is None:
        raise HTTPException(404, f"no reservation {reservation_id!r}: settled, released or never made")
    return found


@router.post(
    "",
    status_code=201,
    response_model=ReservationOut,
    responses={
        409: {"model": BudgetProblem, "description": "a hard budget would be exceeded: do not call"},
        **_INVALID,
    },
    summary="Hold a call's worst-case cost against the hard budgets covering it",
)
def create_reservation(body: ReserveIn, request: Request):
    try:
        r = reserve(
            body.provider_name,
            body.model,
            max_output_tokens=body.max_output_tokens,
            prompt_tokens=body.prompt_tokens,
            prompt_text=body.prompt_text,
            tags=body.tags,
            ttl_seconds=body.ttl_seconds,
            keep_unbudgeted=True,
            engine=_engine(request),
        )
    except BudgetExceeded as exc:
        return JSONResponse(
            {
                "detail": str(exc),
                "budget": exc.budget,
                "limit_usd": float(exc.limit),
                "spent_usd": float(exc.spent),
                "held_usd": float(exc.held or 0),
                "requested_usd": float(exc.requested or 0),
            },
            409,
        )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return {
        "id": r.id,
        "provider_name": r.provider,
        "model": r.model,
        "worst_case_usd": None if r.amount is None else float(r.amount),
        "holds": [{"budget": name, "amount_usd": float(amount)} for name, amount in r.holds],
    }


@router.post(
    "/{reservation_id}/settle",
    response_model=SettledOut,
    responses={**_UNKNOWN, **_INVALID},
    summary="Record the call made under a reservation and release its hold",
)
def settle_reservation(body: SettleIn, reservation_id: ReservationId, request: Request):
    r = _load(request, reservation_id)
    try:
        r.record(**body.model_dump())
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return {"id": reservation_id, "recorded": 1}


@router.delete(
    "/{reservation_id}",
    response_model=SettledOut,
    responses=_UNKNOWN,
    summary="Release a reservation whose call was not made",
)
def release_reservation(reservation_id: ReservationId, request: Request):
    _load(request, reservation_id).release()
    return {"id": reservation_id, "recorded": 0}
