"""Old import path: ``metrics_core.budgets`` (now ``metrics_core.policy.budgets``, ``.forecast``,
``.enforcement``). Every name it had keeps working."""

from .policy.budgets import *  # noqa: F403
from .policy.budgets import PERIODS, SCOPES, Budget, BudgetNotFound, BudgetStatus  # noqa: F401
from .policy.enforcement import blocked_providers, check_budget  # noqa: F401
from .policy.forecast import Forecast, forecast  # noqa: F401
