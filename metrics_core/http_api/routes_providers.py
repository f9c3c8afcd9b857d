"""The provider writes (write-scope tokens): enable or disable a provider."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from ..policy import providers
from ..service import jsonable
from .deps import EngineDep, WriteToken
from .schemas import ERRORS, EnableIn, Problem, ProviderOut

router = APIRouter()


@router.post(
    "/api/llm/providers/{provider}/enable",
    tags=["write"],
    response_model=ProviderOut,
    responses={
        **ERRORS,
        400: {"model": Problem, "description": "the body is not UTF-8 JSON"},  # FastAPI's own reply
        404: {"model": Problem, "description": "no such provider"},
    },
    summary="Enable or disable a provider (a disabled provider still records)",
)
def enable_provider(
    body: EnableIn,
    provider: Annotated[str, Path(max_length=200, description="provider id or name")],
    engine: EngineDep,
    _token: WriteToken,
):
    ref: int | str = int(provider) if provider.isascii() and provider.isdigit() and len(provider) < 10 else provider
    return JSONResponse(jsonable(providers.set_enabled(ref, bool(body.enabled), engine)))
