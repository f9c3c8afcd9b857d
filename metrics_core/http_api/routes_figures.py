"""The read endpoints: providers, metrics, costs, trends and health (read-scope tokens), and ``/healthz``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from .. import __version__, queries
from ..queries import health_summary
from ..service import jsonable
from .deps import EngineDep, ReadToken
from .schemas import ERRORS, AvailabilityOut, CostsOut, HealthOut, MetricsOut, ProviderOut, TrendsOut

MAX_DAYS = 3660  # ten years: the longest window a GET accepts

Days = Annotated[int, Query(ge=1, le=MAX_DAYS, description="whole UTC days, today included")]

router = APIRouter()


@router.get("/healthz", tags=["probes"], summary="Liveness probe (no token, no database)")
async def healthz() -> dict:
    return {"status": "ok", "version": __version__}


@router.get(
    "/api/llm/providers",
    tags=["read"],
    response_model=list[ProviderOut],
    responses=ERRORS,
    summary="Every provider with its circuit and all-time totals",
)
def get_providers(engine: EngineDep, _token: ReadToken):
    return JSONResponse(jsonable(queries.list_providers(engine)))


@router.get(
    "/api/llm/metrics",
    tags=["read"],
    response_model=MetricsOut,
    responses=ERRORS,
    summary="Requests, success rate, tokens and response times",
)
def get_metrics(engine: EngineDep, _token: ReadToken, days: Days = 7):
    return JSONResponse(jsonable(queries.metrics(days, engine=engine)))


@router.get(
    "/api/llm/costs",
    tags=["read"],
    response_model=CostsOut,
    responses=ERRORS,
    summary="Spend, what it would have cost on the reference model, savings",
)
def get_costs(engine: EngineDep, _token: ReadToken, days: Days = 30):
    return JSONResponse(jsonable(queries.cost_summary(days, engine=engine)))


@router.get(
    "/api/llm/trends",
    tags=["read"],
    response_model=TrendsOut,
    responses=ERRORS,
    summary="One row per UTC day (quiet days as zeros), and per provider and day",
)
def get_trends(engine: EngineDep, _token: ReadToken, days: Days = 30):
    return JSONResponse(jsonable(queries.trends(days, engine=engine)))


@router.get(
    "/api/llm/health",
    tags=["read"],
    response_model=HealthOut,
    responses=ERRORS,
    summary="Overall status, provider counts, open circuits, recent success rate",
)
def get_health(engine: EngineDep, _token: ReadToken):
    return JSONResponse(jsonable(health_summary(engine)))


@router.get(
    "/api/llm/availability",
    tags=["read"],
    response_model=list[AvailabilityOut],
    responses=ERRORS,
    summary="Availability per provider: unavailable from a circuit's opening until a call succeeds again",
)
def get_availability(engine: EngineDep, _token: ReadToken, days: Days = 30):
    return JSONResponse(jsonable(queries.availability(days, engine=engine).to_dict("records")))
