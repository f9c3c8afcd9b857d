"""The ``llm-metrics`` command line: ``main`` parses and dispatches; one module per area adds its
subcommands (``budgets``: budgets, alerts, reports; ``serve``: the HTTP API and its keys)."""

from .main import COMMAND_MODULES, build_parser, main

__all__ = ["COMMAND_MODULES", "build_parser", "main"]
