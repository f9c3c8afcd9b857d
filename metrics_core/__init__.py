"""llm-metrics core (placeholder on the integrations branch; replaced by main's at merge)."""
