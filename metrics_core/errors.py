"""The few exceptions metrics_core raises on purpose."""


class MetricsError(Exception):
    """Base class of every error raised on purpose by metrics_core."""


class DatabaseUnavailable(MetricsError):
    """The metrics database cannot be opened or read."""


class SchemaTooNew(MetricsError):
    """The database was migrated by a newer llm-metrics than this one."""


class ProviderNotFound(MetricsError, LookupError):
    """No provider has that id or name."""
