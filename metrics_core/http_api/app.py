"""The HTTP API (``llm-metrics serve``): record and read metrics from services in any language.

FastAPI + uvicorn, an optional extra: ``import metrics_core`` never imports this module. Every
endpoint but the liveness probe ``GET /healthz`` needs a bearer token (``llm-metrics token
create``): ``read`` tokens may call the GET endpoints, ``write`` tokens every endpoint. Responses
have the shapes of the ``LLMMetricsService`` facade.

The endpoints live in routers, one module per area (``routes_figures``, ``routes_providers``,
``routes_record``, ``otlp``); :func:`create_app` includes them.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import Depends, FastAPI, HTTPException
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from .. import __version__, storage
from ..config import settings
from ..errors import DatabaseUnavailable, ProviderNotFound
from . import otlp, reservations, routes_figures, routes_providers, routes_record
from .deps import Auth, write_token
from .routes_record import Committer
from .schemas import ERRORS

__all__ = ["Committer", "create_app", "create_app_without_docs", "serve"]

TOKEN_CACHE_SECONDS = 5.0  # a revoked token stops working within this time


class BodyLimit:
    """Refuses request bodies over ``max_bytes`` with 413, by Content-Length or as they stream in."""

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.max_bytes
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and (not value.isdigit() or len(value) > 18 or int(value) > limit):
                message = f"request body over the limit of {limit} bytes"
                if scope.get("path") == otlp.PATH:
                    response = otlp.error_response(scope, 413, message)
                else:
                    response = JSONResponse({"detail": message}, 413)
                return await response(scope, receive, send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(413, f"request body over the limit of {limit} bytes")
            return message

        return await self.app(scope, limited, send)


def create_app(
    db_url: str | None = None, *, token_cache_seconds: float = TOKEN_CACHE_SECONDS, docs: bool = True
) -> FastAPI:
    """The API application for the database at ``db_url`` (default: ``$LLM_METRICS_DB_URL``).

    Args:
        db_url: SQLAlchemy URL; the schema is created or upgraded on first use.
        token_cache_seconds: how long a checked token is trusted before it is looked up again
            (a revoked token keeps working at most this long); 0 looks it up on every request.
        docs: serve the OpenAPI document at ``/openapi.json`` and its pages at ``/docs``.
    """
    cfg = settings()
    url = db_url or cfg.db_url
    engine = storage.get_engine(url)
    threads = cfg.db_pool_size + cfg.db_max_overflow

    @asynccontextmanager
    async def lifespan(_app):
        # Sync endpoints run in anyio's thread pool: no more threads than database connections,
        # so a burst waits for a thread instead of timing out waiting for a connection.
        anyio.to_thread.current_default_thread_limiter().total_tokens = max(threads, 2)
        yield
        _app.state.committer.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="llm-metrics",
        version=__version__,
        summary="Record LLM calls and read health, usage, spend and savings.",
        description=(
            "Every endpoint but `GET /healthz` needs `Authorization: Bearer <token>` "
            "(`llm-metrics token create --name NAME [--scope read|write]`). `read` tokens may call the GET "
            f"endpoints; `write` tokens every endpoint. Bodies over {cfg.api_max_body_bytes} bytes get 413; "
            f"`POST /api/llm/record` takes one call or a list of at most {cfg.api_max_batch}."
        ),
        openapi_url="/openapi.json" if docs else None,
        docs_url="/docs" if docs else None,
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.auth = Auth(engine, token_cache_seconds)
    app.state.committer = Committer(engine, url)
    app.state.max_batch = cfg.api_max_batch
    app.state.max_body_bytes = cfg.api_max_body_bytes

    @app.exception_handler(ProviderNotFound)
    async def _not_found(_request, exc: ProviderNotFound):
        return JSONResponse({"detail": str(exc)}, 404)

    @app.exception_handler(DatabaseUnavailable)
    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    async def _unavailable(_request, exc: Exception):
        return JSONResponse(
            {"detail": f"the metrics database is unavailable: {exc.__class__.__name__}"},
            503,
            headers={"Retry-After": "5"},
        )

    app.include_router(routes_figures.router)
    app.include_router(routes_providers.router)
    app.include_router(routes_record.router)
    app.include_router(otlp.router)
    app.include_router(reservations.router, dependencies=[Depends(write_token)], responses=ERRORS)

    generate_openapi = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            routes_record.document(generate_openapi(), max_batch=cfg.api_max_batch)
        return app.openapi_schema

    app.openapi = openapi
    app.add_middleware(BodyLimit, max_bytes=cfg.api_max_body_bytes)
    return app


def serve(
    *, host: str = "127.0.0.1", port: int = 8000, workers: int = 1, log_level: str = "info", docs: bool = True
) -> None:
    """Run the API with uvicorn (blocks). The database is ``$LLM_METRICS_DB_URL``."""
    import uvicorn

    factory = "metrics_core.http_api.app:create_app" if docs else "metrics_core.http_api.app:create_app_without_docs"
    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        proxy_headers=False,
        server_header=False,
    )


def create_app_without_docs() -> FastAPI:
    """``create_app(docs=False)``, for uvicorn's factory mode."""
    return create_app(docs=False)
