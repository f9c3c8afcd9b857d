"""The few exceptions metrics_core raises on purpose."""


class MetricsError(Exception):
    """Base class of every error raised on purpose by metrics_core."""


class DatabaseUnavailable(MetricsError):
    """The metrics database cannot be opened or read."""


class SchemaTooNew(MetricsError):
    """The database was migrated by a newer llm-metrics than this one."""


class ProviderNotFound(MetricsError, LookupError):
    """No provider has that id or name."""


class BudgetExceeded(MetricsError):
    """A hard budget is spent (or would be by this call): the call it guards must not go ahead."""

    def __init__(self, budget: str, spent, limit, period: str = "", *, held=None, requested=None) -> None:
        self.budget, self.spent, self.limit, self.period = budget, spent, limit, period
        self.held, self.requested = held, requested
        where = f" this {period}" if period else ""
        if held is None and requested is None:
            super().__init__(f"hard budget {budget!r} is spent: ${spent:.2f} of ${limit:.2f}{where}")
            return
        held_text = f" + ${held:.4f} held by calls in flight" if held is not None else ""
        need = f"; this call may cost up to ${requested:.4f}" if requested is not None else ""
        super().__init__(
            f"hard budget {budget!r} would be exceeded: ${spent:.4f} spent{held_text} of ${limit:.2f}{where}{need}"
        )
