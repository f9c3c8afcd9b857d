"""The HTTP API (``llm-metrics serve``): record and read metrics from services in any language.

FastAPI + uvicorn, an optional extra: ``import metrics_core`` never imports this module. Every
endpoint but the liveness probe ``GET /healthz`` needs a bearer token (``llm-metrics token
create``): ``read`` tokens may call the GET endpoints, ``write`` tokens every endpoint. Responses
have the shapes of the ``LLMMetricsService`` facade.

``POST /api/llm/record`` takes one call (an object with ``record_request``'s arguments) or a list
of them. The whole batch is validated first, then written in one transaction before the response
is sent: a 200 means the calls are stored, an error means none of them is.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import queue
import re
import threading
import time
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, ValidationError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.concurrency import run_in_threadpool

from .. import __version__, clock, queries, storage
from ..config import settings
from ..errors import DatabaseUnavailable, ProviderNotFound
from ..policy import providers
from ..queries import health_summary
from ..recording import batch, registry, validate
from ..recording import record as recording_record
from ..recording.writer import run_after_write_hooks
from ..service import jsonable as _jsonable
from . import api_keys as tokens

MAX_DAYS = 3660  # ten years: the longest window a GET accepts
TOKEN_CACHE_SECONDS = 5.0  # a revoked token stops working within this time
TOUCH_EVERY_SECONDS = 60.0  # how often a token's last_used_at is updated
EARLIEST = validate.EARLIEST  # one rule with record_request: 2000-01-01 to a day from now

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
            },
        },
    )

    provider_name: Annotated[str, Field(min_length=1, max_length=validate.MAX_NAME, strict=True)]
    model: Annotated[str, Field(min_length=1, max_length=validate.MAX_MODEL, strict=True)]
    status: Literal[validate.STATUSES]  # type: ignore[valid-type]
    prompt_tokens: Tokens = 0
    completion_tokens: Tokens = 0
    cache_read_tokens: Tokens = 0
    cache_write_tokens: Tokens = 0
    reasoning_tokens: Tokens = 0
    duration_seconds: Seconds = None
    time_to_first_token_seconds: Seconds = None
    endpoint: Annotated[str | None, Field(max_length=validate.MAX_ENDPOINT, strict=True)] = None
    error_message: Annotated[str | None, Field(strict=True)] = None
    tags: Annotated[dict[TagKey, TagValue] | None, Field(max_length=validate.MAX_TAGS)] = None
    timestamp: Annotated[
        AwareDatetime | None,
        Field(
            description="when the call started (ISO 8601 with a UTC offset, from 2000 to a day from now); default: now"
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
    total_cost_usd: float


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
    cost_usd: float
    hypothetical_cost_usd: float


class TrendsOut(Breakdown):
    daily: list[TrendDay]
    by_provider: list[Breakdown]


class HealthOut(Breakdown):
    status: Literal["healthy", "degraded", "down"]
    providers_total: int
    providers_enabled: int
    providers_available: int
    open_circuits: list[str]
    recent_success_rate: float | None


class Problem(BaseModel):
    detail: Any


_ERRORS = {
    401: {"model": Problem, "description": "missing or invalid bearer token"},
    403: {"model": Problem, "description": "the token's scope does not allow this"},
    503: {"model": Problem, "description": "the database is unavailable; retry later"},
}


class _Auth:
    """Checks bearer tokens, with a short cache so a busy client does not cost a lookup per call."""

    def __init__(self, engine, cache_seconds: float) -> None:
        self.engine = engine
        self.cache_seconds = cache_seconds
        self.cache: dict[str, tuple[tokens.Token, float]] = {}
        self.touched: dict[int, float] = {}
        self.lock = threading.Lock()

    def cached(self, raw: str) -> tokens.Token | None:
        """The token if it was checked within the cache time and needs no database work now."""
        hit = self.cache.get(tokens.hash_token(raw))
        now = time.monotonic()
        if hit is None or hit[1] <= now or self._touch_due(hit[0], now):
            return None
        return hit[0]

    def check(self, raw: str) -> tokens.Token | None:
        """Look the token up (blocking: run it in a worker thread) and note its use."""
        now = time.monotonic()
        digest = tokens.hash_token(raw)
        hit = self.cache.get(digest)
        if hit is not None and hit[1] > now:
            token = hit[0]
        else:
            token = tokens.verify(raw, engine=self.engine)
            with self.lock:
                if token is None:
                    self.cache.pop(digest, None)
                elif self.cache_seconds > 0:
                    if len(self.cache) > 10_000:
                        self.cache.clear()
                    self.cache[digest] = (token, now + self.cache_seconds)
        if token is not None and self._touch_due(token, now):
            self.touched[token.id] = now
            with suppress(Exception):
                tokens.touch(token.id, engine=self.engine)
        return token

    def _touch_due(self, token: tokens.Token, now: float) -> bool:
        return self.touched.get(token.id, -TOUCH_EVERY_SECONDS) <= now - TOUCH_EVERY_SECONDS


class Committer:
    """Group commit: one thread writes the calls of every request waiting at that moment in one
    transaction (concurrent requests would otherwise queue for SQLite's write lock, or for
    PostgreSQL's row locks on the same rollup and breaker rows, one transaction each).

    A request is answered once its transaction commits. If a group's transaction fails, each of
    its requests is written again on its own, so one request's failure is never another's and a
    request's calls are stored all together or not at all.
    """

    MAX_ROWS = 5000  # calls per transaction

    def __init__(self, engine, url: str) -> None:
        self.engine = engine
        self.url = url
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.providers = registry.ProviderCache()
        self.overrides: dict = {}
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    async def write(self, items: list[tuple]) -> None:
        if self.thread is None:
            with self.lock:
                if self.thread is None:
                    self.thread = threading.Thread(target=self._run, name="llm-metrics-api-writer", daemon=True)
                    self.thread.start()
        future: concurrent.futures.Future = concurrent.futures.Future()
        self.jobs.put((items, future))
        await asyncio.wrap_future(future)

    def stop(self) -> None:
        if self.thread is not None:
            self.jobs.put(None)
            self.thread.join(30)
            self.thread = None

    def _write(self, items: list[tuple]) -> None:
        batch.write_batch(self.engine, items, self.providers, self.overrides)

    def _run(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            group, rows = [job], len(job[0])
            while rows < self.MAX_ROWS:
                try:
                    job = self.jobs.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    self.jobs.put(None)  # stop after this group
                    break
                group.append(job)
                rows += len(job[0])
            try:
                self._write([item for items, _ in group for item in items])
            except Exception as exc:
                if len(group) == 1:
                    group[0][1].set_exception(exc)
                    continue
                for items, future in group:  # find the request(s) at fault; the others go through
                    try:
                        self._write(items)
                    except Exception as own:
                        future.set_exception(own)
                    else:
                        future.set_result(None)
                continue
            run_after_write_hooks(self.url)  # budget alerts, as after the recorder's writes (returns at once)
            for _, future in group:
                future.set_result(None)


_bearer = HTTPBearer(auto_error=False, description="a token made with `llm-metrics token create`")


def _require(scope: str):
    async def dependency(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)):
        challenge = {"WWW-Authenticate": "Bearer"}
        if credentials is None:
            raise HTTPException(401, "missing bearer token: send 'Authorization: Bearer <token>'", challenge)
        auth = request.app.state.auth
        token = auth.cached(credentials.credentials)  # the common case: no thread, no database
        if token is None:
            token = await run_in_threadpool(auth.check, credentials.credentials)
        if token is None:
            raise HTTPException(401, "invalid or revoked token", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if not token.allows(scope):
            raise HTTPException(403, f"token {token.name!r} has scope {token.scope!r}; this needs {scope!r}")
        return token

    return dependency


ReadToken = Depends(_require("read"))
WriteToken = Depends(_require("write"))
Days7 = Annotated[int, Query(ge=1, le=MAX_DAYS, description="whole UTC days, today included")]


def _field_of(message: str) -> str | None:
    match = re.match(r"[a-z_]+", message)
    if match and match.group(0) in RecordIn.model_fields:
        return match.group(0)
    return None


def _problem(loc: list, msg: str, kind: str) -> dict:
    return {"loc": loc, "msg": msg, "type": kind}


class _BodyLimit:
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
                response = JSONResponse({"detail": f"request body over the limit of {limit} bytes"}, 413)
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
    max_batch = cfg.api_max_batch

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
            f"`POST /api/llm/record` takes one call or a list of at most {max_batch}."
        ),
        openapi_url="/openapi.json" if docs else None,
        docs_url="/docs" if docs else None,
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.auth = _Auth(engine, token_cache_seconds)
    committer = Committer(engine, url)
    app.state.committer = committer

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

    @app.get("/healthz", tags=["probes"], summary="Liveness probe (no token, no database)")
    async def healthz() -> dict:
        return {"status": "ok", "version": __version__}

    @app.get(
        "/api/llm/providers",
        tags=["read"],
        response_model=list[ProviderOut],
        responses=_ERRORS,
        summary="Every provider with its circuit and all-time totals",
    )
    def get_providers(_token=ReadToken):
        return JSONResponse(_jsonable(queries.list_providers(engine)))

    @app.get(
        "/api/llm/metrics",
        tags=["read"],
        response_model=MetricsOut,
        responses=_ERRORS,
        summary="Requests, success rate, tokens and response times",
    )
    def get_metrics(days: Days7 = 7, _token=ReadToken):
        return JSONResponse(_jsonable(queries.metrics(days, engine=engine)))

    @app.get(
        "/api/llm/costs",
        tags=["read"],
        response_model=CostsOut,
        responses=_ERRORS,
        summary="Spend, what it would have cost on the reference model, savings",
    )
    def get_costs(days: Days7 = 30, _token=ReadToken):
        return JSONResponse(_jsonable(queries.cost_summary(days, engine=engine)))

    @app.get(
        "/api/llm/trends",
        tags=["read"],
        response_model=TrendsOut,
        responses=_ERRORS,
        summary="One row per UTC day (quiet days as zeros), and per provider and day",
    )
    def get_trends(days: Days7 = 30, _token=ReadToken):
        return JSONResponse(_jsonable(queries.trends(days, engine=engine)))

    @app.get(
        "/api/llm/health",
        tags=["read"],
        response_model=HealthOut,
        responses=_ERRORS,
        summary="Overall status, provider counts, open circuits, recent success rate",
    )
    def get_health(_token=ReadToken):
        return JSONResponse(_jsonable(health_summary(engine)))

    @app.post(
        "/api/llm/providers/{provider}/enable",
        tags=["write"],
        response_model=ProviderOut,
        responses={**_ERRORS, 404: {"model": Problem, "description": "no such provider"}},
        summary="Enable or disable a provider (a disabled provider still records)",
    )
    def enable_provider(
        body: EnableIn,
        provider: Annotated[str, Path(max_length=200, description="provider id or name")],
        _token=WriteToken,
    ):
        ref: int | str = int(provider) if provider.isascii() and provider.isdigit() and len(provider) < 10 else provider
        return JSONResponse(_jsonable(providers.set_enabled(ref, bool(body.enabled), engine)))

    record_schema = {
        "oneOf": [
            {"$ref": "#/components/schemas/RecordIn"},
            {"type": "array", "items": {"$ref": "#/components/schemas/RecordIn"}, "minItems": 1, "maxItems": max_batch},
        ]
    }

    @app.post(
        "/api/llm/record",
        tags=["write"],
        response_model=Recorded,
        responses={
            **_ERRORS,
            400: {"model": Problem, "description": "the body is not JSON"},
            413: {"model": Problem, "description": "body over the size limit"},
            422: {"model": Problem, "description": "invalid call(s); `loc` names the field; nothing stored"},
        },
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": record_schema}}}},
        summary="Record one call, or a list of calls (all or nothing)",
    )
    async def record(request: Request, _token=WriteToken):
        raw = await request.body()
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError, too many digits, too deep
            raise HTTPException(400, f"the body is not valid JSON: {str(exc)[:200]}") from None
        single = isinstance(body, dict)
        calls = [body] if single else body
        if not isinstance(calls, list) or not calls:
            raise HTTPException(
                422,
                [
                    _problem(
                        ["body"], "body: expected a call (a JSON object) or a non-empty list of calls", "type_error"
                    )
                ],
            )
        if len(calls) > max_batch:
            raise HTTPException(
                422, [_problem(["body"], f"body: at most {max_batch} calls per request, got {len(calls)}", "too_long")]
            )
        items: list[tuple] = []
        problems: list[dict] = []
        latest = clock.now() + timedelta(days=1)
        for i, call in enumerate(calls):
            where = ["body"] if single else ["body", i]
            try:
                parsed = RecordIn.model_validate(call)
            except ValidationError as exc:
                for err in exc.errors(include_url=False, include_input=False, include_context=False):
                    loc = [*where, *err["loc"]]
                    field = ".".join(str(p) for p in err["loc"] if p != "") or "body"
                    problems.append(_problem(loc, f"{field}: {err['msg']}", err["type"]))
                continue
            if parsed.timestamp is not None and not EARLIEST <= parsed.timestamp <= latest:
                problems.append(
                    _problem(
                        [*where, "timestamp"],
                        f"timestamp must lie between 2000-01-01 and a day from now, got {parsed.timestamp.isoformat()}",
                        "value_error",
                    )
                )
                continue
            try:
                recording_record.record_request(**parsed.model_dump(), _into=items)
            except ValueError as exc:
                field = _field_of(str(exc))
                problems.append(_problem([*where, field] if field else where, str(exc), "value_error"))
            if len(problems) >= 50:
                break
        if problems:
            raise HTTPException(422, problems)
        await committer.write(items)
        return {"recorded": len(items)}

    generate_openapi = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:  # the record body is parsed by hand: add its schema
            schema = generate_openapi()
            schema["components"]["schemas"]["RecordIn"] = RecordIn.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
        return app.openapi_schema

    app.openapi = openapi
    app.add_middleware(_BodyLimit, max_bytes=cfg.api_max_body_bytes)
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
