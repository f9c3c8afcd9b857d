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
    """A hard budget is spent: the call it guards must not go ahead."""

    def __init__(self, budget: str, spent, limit, period: str = "") -> None:
        self.budget, self.spent, self.limit, self.period = budget, spent, limit, period
        where = f" this {period}" if period else ""
        super().__init__(f"hard budget {budget!r} is spent: ${spent:.2f} of ${limit:.2f}{where}")
