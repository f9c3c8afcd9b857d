"""Hooks run after each stored batch (alerts register one at the top of the package: recording
never imports the layers above it)."""

from __future__ import annotations

import logging

log = logging.getLogger("metrics_core")

#: callables run with the database URL after each stored batch (alerts register one at the top of
#: the package: recording never imports the layers above it)
AFTER_WRITE_HOOKS: list = []


def add_after_write_hook(hook) -> None:
    """Run ``hook(url)`` after every stored batch (once per hook; it must return quickly and not raise)."""
    if hook not in AFTER_WRITE_HOOKS:
        AFTER_WRITE_HOOKS.append(hook)


def run_after_write_hooks(url: str) -> None:
    """Run the after-write hooks; a failing hook is logged, never raised (hooks never break recording)."""
    for hook in AFTER_WRITE_HOOKS:
        try:
            hook(url)
        except Exception:
            log.exception("llm-metrics after-write hook failed")
