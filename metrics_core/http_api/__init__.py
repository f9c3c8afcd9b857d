"""The HTTP API (FastAPI): figures as JSON for read-scope keys, recording for write-scope keys."""

from .app import create_app, create_app_without_docs, serve

__all__ = ["create_app", "create_app_without_docs", "serve"]
