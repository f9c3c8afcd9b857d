"""Old import path: ``metrics_core.alerts`` (now ``metrics_core.policy.alerts`` and ``.alert_delivery``)."""

from .policy.alert_delivery import *  # noqa: F403
from .policy.alerts import *  # noqa: F403
from .policy.alerts import RULES, Alert, AlertSettings, alert_settings, evaluate  # noqa: F401
