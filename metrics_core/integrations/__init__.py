"""Instrument LLM SDK clients so every call is recorded.

Each submodule (``openai``, ``anthropic``, ``ollama``, ``otel``) imports its SDK
only when used, so importing this package never imports an SDK.
"""
