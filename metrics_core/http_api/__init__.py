"""The HTTP API (FastAPI): figures as JSON for read-scope keys, recording (``POST /api/llm/record``) and
OTLP trace exports (``POST /v1/traces``) for write-scope keys; one router module per area."""

from .app import create_app, create_app_without_docs, serve

__all__ = ["create_app", "create_app_without_docs", "serve"]
