"""``llm-metrics serve`` and ``llm-metrics token create|list|revoke`` (registered through cli.COMMAND_MODULES).

Kept apart from ``api.py`` so the CLI works, and says what to install, without FastAPI.
"""

from __future__ import annotations

import argparse
import json
import sys


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {value}")
    return value


def register(sub) -> dict:
    p = sub.add_parser("serve", help="serve the HTTP API (needs a token: `llm-metrics token create`)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; 0.0.0.0 = every interface)")
    p.add_argument("--port", type=_port, default=8000, help="port (default 8000)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument("--no-docs", action="store_true", help="do not serve /docs and /openapi.json")

    p = sub.add_parser("token", help="create, list or revoke HTTP API tokens")
    tsub = p.add_subparsers(dest="token_action", required=True, metavar="ACTION")
    c = tsub.add_parser("create", help="make a token and print it (it is shown only this once)")
    c.add_argument("--name", required=True, help="who uses it, e.g. svc-a")
    c.add_argument(
        "--scope",
        choices=["read", "write"],
        default="read",
        help="read: GET endpoints only (default); write: every endpoint, recording included",
    )
    ls = tsub.add_parser("list", help="list tokens (never the tokens themselves)")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.add_argument("--active", action="store_true", help="only tokens that are not revoked")
    r = tsub.add_parser("revoke", help="revoke a token by id or name")
    r.add_argument("token", help="token id or name")
    return {"serve": cmd_serve, "token": cmd_token}


def cmd_serve(engine, args) -> int:
    try:
        from .. import http_api as api
    except ImportError as exc:
        print(
            f"error: the HTTP API needs FastAPI and uvicorn ({exc}); "
            "install them with `pip install 'llm-metrics[api]'`",
            file=sys.stderr,
        )
        return 1
    from ..http_api import api_keys as tokens

    if not tokens.list_tokens(include_revoked=False, engine=engine):
        print(
            "warning: no active API token yet; every request except GET /healthz will get 401. "
            "Make one with `llm-metrics token create --name NAME --scope write`.",
            file=sys.stderr,
        )
    if args.workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 2
    print(
        f"llm-metrics API on http://{args.host}:{args.port} (database "
        f"{engine.url.render_as_string(hide_password=True)}); docs at /docs",
        file=sys.stderr,
    )
    api.serve(host=args.host, port=args.port, workers=args.workers, log_level=args.log_level, docs=not args.no_docs)
    return 0


def cmd_token(engine, args) -> int:
    from ..http_api import api_keys as tokens

    if args.token_action == "create":
        token, record = tokens.create_token(name=args.name, scope=args.scope, engine=engine)
        print(token)
        print(
            f"✓ Token {record.name!r} (id {record.id}, scope {record.scope}) created. It is shown only now: "
            "store it in your secret manager. Use it as 'Authorization: Bearer <token>'.",
            file=sys.stderr,
        )
        return 0
    if args.token_action == "list":
        rows = tokens.list_tokens(include_revoked=not args.active, engine=engine)
        if args.json:
            print(json.dumps([t.as_dict() for t in rows], indent=2))
            return 0
        if not rows:
            print("No tokens. Make one with `llm-metrics token create --name NAME [--scope read|write]`.")
            return 0
        print(f"{'id':>3}  {'name':<20} {'scope':<5}  {'prefix':<11} {'created (UTC)':<19}  {'last used':<19}  status")
        for t in rows:
            status = "active" if t.active else f"revoked {t.revoked_at:%Y-%m-%d %H:%M}"
            used = f"{t.last_used_at:%Y-%m-%d %H:%M:%S}" if t.last_used_at else "never"
            print(
                f"{t.id:>3}  {t.name:<20} {t.scope:<5}  {t.prefix + '…':<11} {t.created_at:%Y-%m-%d %H:%M:%S}  "
                f"{used:<19}  {status}"
            )
        return 0
    ref: int | str = int(args.token) if args.token.isdigit() else args.token
    try:
        revoked = tokens.revoke_token(ref, engine=engine)
    except LookupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for t in revoked:
        print(f"✓ Revoked token {t.name!r} (id {t.id}); running servers refuse it within a few seconds")
    return 0
