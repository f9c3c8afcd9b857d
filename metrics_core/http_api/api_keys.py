"""Bearer tokens for the HTTP API: created once, stored hashed, checked on every request.

A token is ``lmt_`` followed by 43 URL-safe characters (256 random bits). Only its SHA-256 hash is
stored (a token that random needs no slow password hash), with its first characters as a prefix to
recognise it in ``token list``. Scopes: ``read`` may call the GET endpoints; ``write`` may call
every endpoint (recording, enabling providers, and reading). A revoked token is kept, marked with
the time it was revoked, and never accepted again.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from .. import clock, storage

PREFIX = "lmt_"
SCOPES = ("read", "write")
MAX_NAME = 100
_SHOWN = len(PREFIX) + 6  # characters kept in clear as the token's prefix


@dataclass(frozen=True)
class Token:
    """A stored token (never the token itself)."""

    id: int
    name: str
    prefix: str
    scope: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: str) -> bool:
        """``write`` tokens may do everything, ``read`` tokens only read."""
        return self.active and (self.scope == "write" or scope == "read")

    def as_dict(self) -> dict:
        def iso(v):
            return None if v is None else v.isoformat() + "Z"

        return {
            "id": self.id,
            "name": self.name,
            "prefix": self.prefix,
            "scope": self.scope,
            "created_at": iso(self.created_at),
            "last_used_at": iso(self.last_used_at),
            "revoked_at": iso(self.revoked_at),
            "active": self.active,
        }


def _now() -> datetime:
    return clock.utc_now()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _token(row) -> Token:
    return Token(row.id, row.name, row.prefix, row.scope, row.created_at, row.last_used_at, row.revoked_at)


def create_token(*, name: str, scope: str = "read", engine=None) -> tuple[str, Token]:
    """Make a new token; returns ``(token, stored record)``. The token cannot be shown again.

    Raises:
        ValueError: bad name or scope, or an active token already has that name.
    """
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise ValueError(f"name must be a non-empty string of at most {MAX_NAME} characters, got {name!r}")
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SCOPES)}; got {scope!r}")
    engine = engine if engine is not None else storage.get_engine()
    t = storage.api_tokens
    token = PREFIX + secrets.token_urlsafe(32)
    with engine.connect() as conn, conn.execution_options(immediate=True).begin():
        taken = conn.execute(select(t.c.id).where(t.c.name == name, t.c.revoked_at.is_(None))).first()
        if taken is not None:
            raise ValueError(f"an active token is already named {name!r}; revoke it first or pick another name")
        new_id = conn.execute(
            t.insert().values(
                name=name, token_hash=hash_token(token), prefix=token[:_SHOWN], scope=scope, created_at=_now()
            )
        ).inserted_primary_key[0]
        row = conn.execute(select(t).where(t.c.id == new_id)).one()
    return token, _token(row)


def list_tokens(*, include_revoked: bool = True, engine=None) -> list[Token]:
    """Every token, oldest first (active ones only with ``include_revoked=False``)."""
    engine = engine if engine is not None else storage.get_engine()
    t = storage.api_tokens
    q = select(t).order_by(t.c.id)
    if not include_revoked:
        q = q.where(t.c.revoked_at.is_(None))
    with engine.connect() as conn:
        return [_token(r) for r in conn.execute(q)]


def revoke_token(ref: int | str, *, engine=None) -> list[Token]:
    """Revoke the active token(s) with this id or name; returns what was revoked.

    Raises:
        LookupError: no active token has that id or name.
    """
    engine = engine if engine is not None else storage.get_engine()
    t = storage.api_tokens
    by_id = isinstance(ref, int) and not isinstance(ref, bool)
    cond = (t.c.id == ref) if by_id else (t.c.name == ref)
    with engine.connect() as conn, conn.execution_options(immediate=True).begin():
        ids = list(conn.execute(select(t.c.id).where(cond, t.c.revoked_at.is_(None))).scalars())
        if not ids:
            raise LookupError(f"no active token with {'id' if by_id else 'name'} {ref!r}")
        conn.execute(update(t).where(t.c.id.in_(ids)).values(revoked_at=_now()))
        rows = conn.execute(select(t).where(t.c.id.in_(ids)).order_by(t.c.id)).all()
    return [_token(r) for r in rows]


def verify(token: str, *, engine=None) -> Token | None:
    """The active stored token matching ``token``, or None."""
    if not isinstance(token, str) or not token.startswith(PREFIX) or len(token) > 200:
        return None
    engine = engine if engine is not None else storage.get_engine()
    t = storage.api_tokens
    digest = hash_token(token)
    with engine.connect() as conn:
        row = conn.execute(select(t).where(t.c.token_hash == digest)).first()
    # the lookup is by hash, so timing tells nothing about the token; compare anyway, constant-time
    if row is None or not hmac.compare_digest(row.token_hash, digest) or row.revoked_at is not None:
        return None
    return _token(row)


def touch(token_id: int, *, engine=None) -> None:
    """Note that a token was just used (the API calls this at most once a minute per token)."""
    engine = engine if engine is not None else storage.get_engine()
    with engine.begin() as conn:
        conn.execute(update(storage.api_tokens).where(storage.api_tokens.c.id == token_id).values(last_used_at=_now()))
