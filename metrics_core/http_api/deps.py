"""The HTTP API's dependencies, as ``Annotated`` aliases: the engine and the bearer-token checks.

``def endpoint(engine: EngineDep, token: ReadToken)`` gets the app's engine and a token allowed
to read (401 without a valid token, 403 with a read token on a write endpoint).
"""

from __future__ import annotations

import threading
import time
from contextlib import suppress
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from . import api_keys as tokens

TOUCH_EVERY_SECONDS = 60.0  # how often a token's last_used_at is updated


class Auth:
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


bearer = HTTPBearer(auto_error=False, description="a token made with `llm-metrics token create`")


async def authorize(request: Request, credentials: HTTPAuthorizationCredentials | None, scope: str) -> tokens.Token:
    """The token of ``credentials`` if it allows ``scope``; HTTPException 401 or 403 otherwise."""
    if credentials is None:
        raise HTTPException(
            401, "missing bearer token: send 'Authorization: Bearer <token>'", {"WWW-Authenticate": "Bearer"}
        )
    auth: Auth = request.app.state.auth
    token = auth.cached(credentials.credentials)  # the common case: no thread, no database
    if token is None:
        token = await run_in_threadpool(auth.check, credentials.credentials)
    if token is None:
        raise HTTPException(401, "invalid or revoked token", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
    if not token.allows(scope):
        raise HTTPException(403, f"token {token.name!r} has scope {token.scope!r}; this needs {scope!r}")
    return token


async def read_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> tokens.Token:
    """A token allowed to read."""
    return await authorize(request, credentials, "read")


async def write_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> tokens.Token:
    """A token allowed to write."""
    return await authorize(request, credentials, "write")


async def app_engine(request: Request) -> Engine:
    """The engine of the app's database (async: no worker thread for it)."""
    return request.app.state.engine


ReadToken = Annotated[tokens.Token, Depends(read_token)]
WriteToken = Annotated[tokens.Token, Depends(write_token)]
EngineDep = Annotated[Engine, Depends(app_engine)]
