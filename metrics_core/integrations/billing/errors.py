"""Errors of a billing pull; each message names the provider and never holds an admin key."""

from __future__ import annotations

from metrics_core.errors import MetricsError


class BillingError(MetricsError):
    """A provider's usage or cost report could not be pulled whole."""


class MissingAdminKey(BillingError):
    """The environment variable that holds a provider's admin key is unset or empty."""


class AdminKeyRejected(BillingError):
    """The provider answered 401/403: the admin key is wrong, revoked or not an admin key."""


class BillingUnavailable(BillingError):
    """A timeout, a connection failure, or 429/5xx after every retry."""


class IncompletePull(BillingError):
    """The report lacks a requested day, or its pages did not end, or its shape is not the documented one."""
