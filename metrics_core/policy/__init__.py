"""Policy: budgets (status, forecast, enforcement), alerts (rules and delivery) and routing
(``pick_provider``), plus the provider settings people change."""
