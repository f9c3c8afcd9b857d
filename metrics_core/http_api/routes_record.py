"""``POST /api/llm/record`` (write-scope tokens) and its group committer.

The endpoint takes one call (an object with ``record_request``'s arguments) or a list of them.
The whole batch is validated first, then written in one transaction before the response is sent:
a 200 means the calls are stored, an error means none of them is.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import queue
import re
import threading
from datetime import timedelta

from fastapi import APIRouter, HTTPException, Request
from pydantic import ValidationError

from .. import clock
from ..recording import batch, dedupe, registry, validate
from ..recording import record as recording_record
from ..recording.writer import run_after_write_hooks
from .deps import WriteToken
from .schemas import ERRORS, Problem, Recorded, RecordIn

EARLIEST = validate.EARLIEST  # one rule with record_request: 2000-01-01 to a day from now
MAX_PROBLEMS = 50  # problems reported per request, at most


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


async def commit(request: Request, items: list[tuple], marks: list[tuple[str, str]]) -> None:
    """Write ``items`` through the app's committer; on failure forget the response ids ``marks``
    noted, so that a retry of the same calls is not taken for a duplicate."""
    try:
        await request.app.state.committer.write(items)
    except BaseException:
        dedupe.forget(marks)
        raise


def problem(loc: list, msg: str, kind: str) -> dict:
    """One entry of a 422 ``detail`` list."""
    return {"loc": loc, "msg": msg, "type": kind}


def _field_of(message: str) -> str | None:
    match = re.match(r"[a-z_]+", message)
    if match and match.group(0) in RecordIn.model_fields:
        return match.group(0)
    return None


def request_body_schema(max_batch: int) -> dict:
    """The OpenAPI request body of ``POST /api/llm/record`` (the body is parsed by hand)."""
    schema = {
        "oneOf": [
            {"$ref": "#/components/schemas/RecordIn"},
            {"type": "array", "items": {"$ref": "#/components/schemas/RecordIn"}, "minItems": 1, "maxItems": max_batch},
        ]
    }
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def document(schema: dict, *, max_batch: int) -> None:
    """Add the record body and its ``RecordIn`` schema to the app's OpenAPI document."""
    schema["paths"]["/api/llm/record"]["post"]["requestBody"] = request_body_schema(max_batch)
    schema["components"]["schemas"]["RecordIn"] = RecordIn.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )


router = APIRouter()


@router.post(
    "/api/llm/record",
    tags=["write"],
    response_model=Recorded,
    responses={
        **ERRORS,
        400: {"model": Problem, "description": "the body is not JSON"},
        413: {"model": Problem, "description": "body over the size limit"},
        422: {"model": Problem, "description": "invalid call(s); `loc` names the field; nothing stored"},
    },
    openapi_extra={"requestBody": request_body_schema(1000)},  # maxItems: the app's limit (``document``)
    summary="Record one call, or a list of calls (all or nothing)",
)
async def record(request: Request, _token: WriteToken):
    max_batch = request.app.state.max_batch
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, too many digits, too deep
        raise HTTPException(400, f"the body is not valid JSON: {str(exc)[:200]}") from None
    single = isinstance(body, dict)
    calls = [body] if single else body
    if not isinstance(calls, list) or not calls:
        raise HTTPException(
            422, [problem(["body"], "body: expected a call (a JSON object) or a non-empty list of calls", "type_error")]
        )
    if len(calls) > max_batch:
        raise HTTPException(
            422, [problem(["body"], f"body: at most {max_batch} calls per request, got {len(calls)}", "too_long")]
        )
    items: list[tuple] = []
    problems: list[dict] = []
    marks: list[tuple[str, str]] = []
    latest = clock.now() + timedelta(days=1)
    for i, call in enumerate(calls):
        where = ["body"] if single else ["body", i]
        try:
            parsed = RecordIn.model_validate(call)
        except ValidationError as exc:
            for err in exc.errors(include_url=False, include_input=False, include_context=False):
                loc = [*where, *err["loc"]]
                field = ".".join(str(p) for p in err["loc"] if p != "") or "body"
                problems.append(problem(loc, f"{field}: {err['msg']}", err["type"]))
            continue
        if parsed.timestamp is not None and not EARLIEST <= parsed.timestamp <= latest:
            problems.append(
                problem(
                    [*where, "timestamp"],
                    f"timestamp must lie between 2000-01-01 and a day from now, got {parsed.timestamp.isoformat()}",
                    "value_error",
                )
            )
            continue
        try:
            recording_record.record_request(**parsed.model_dump(), _into=items, _marks=marks)
        except ValueError as exc:
            field = _field_of(str(exc))
            problems.append(problem([*where, field] if field else where, str(exc), "value_error"))
        if len(problems) >= MAX_PROBLEMS:
            break
    if problems:
        dedupe.forget(marks)
        raise HTTPException(422, problems)
    if items:
        await commit(request, items, marks)
    return {"recorded": len(items)}
