"""The original setup guide's five checks: providers, metrics, costs, record request, trends."""

from metrics_core import LLMMetricsService

PROVIDER_KEYS = {
    "id",
    "name",
    "display_name",
    "provider_type",
    "priority",
    "enabled",
    "is_available",
    "circuit_state",
    "failure_count",
    "total_requests",
    "successful_requests",
    "failed_requests",
    "avg_response_time_ms",
    "total_cost_usd",
}
USAGE_KEYS = {
    "total_requests",
    "successful_requests",
    "failed_requests",
    "success_rate",
    "total_prompt_tokens",
    "total_completion_tokens",
    "total_tokens",
    "avg_response_time_ms",
    "p50_response_time_ms",
    "p95_response_time_ms",
    "p99_response_time_ms",
}
COST_KEYS = {
    "total_cost_usd",
    "total_requests",
    "local_requests",
    "remote_requests",
    "hypothetical_claude_cost_usd",
    "estimated_savings_usd",
    "savings_percentage",
    "unpriced_requests",
    "by_provider",
    "by_model",
}


def test_providers():
    providers = LLMMetricsService.get_all_providers()
    assert [(p["name"], p["display_name"], p["provider_type"], p["priority"]) for p in providers] == [
        ("ollama", "Ollama (Local)", "local", 1),
        ("localai", "LocalAI", "local", 2),
        ("claude", "Claude (Anthropic)", "remote", 3),
        ("openai", "OpenAI GPT-4", "remote", 4),
    ]
    for p in providers:
        assert p.keys() >= PROVIDER_KEYS
        assert (p["enabled"], p["is_available"], p["circuit_state"], p["total_requests"]) == (True, True, "closed", 0)


def test_metrics():
    m = LLMMetricsService.get_metrics(days=7)
    assert USAGE_KEYS | {"by_provider", "by_model"} <= m.keys()
    assert m["total_requests"] == 0
    assert m["by_provider"] == [] and m["by_model"] == []


def test_costs():
    c = LLMMetricsService.get_cost_summary(days=30)
    assert c.keys() >= COST_KEYS
    assert c["total_cost_usd"] == 0.0 and c["total_requests"] == 0


def test_record_request():
    LLMMetricsService.record_request(
        provider_name="claude",
        model="claude-sonnet-4-5",
        status="success",
        prompt_tokens=1200,
        completion_tokens=300,
        duration_seconds=1.8,
        endpoint="/v1/messages",
    )
    LLMMetricsService.record_request(
        provider_name="ollama",
        model="llama3.2",
        status="failed",
        error_message="HTTP 500",
        duration_seconds=0.2,
    )
    m = LLMMetricsService.get_metrics(days=7)
    assert (m["total_requests"], m["successful_requests"], m["failed_requests"]) == (2, 1, 1)
    assert m["success_rate"] == 50.0
    assert (m["total_prompt_tokens"], m["total_completion_tokens"], m["total_tokens"]) == (1200, 300, 1500)
    assert m["avg_response_time_ms"] == 1000.0  # (1800 + 200) / 2: failed calls count too
    claude = next(p for p in m["by_provider"] if p["provider"] == "claude")
    assert claude.keys() >= USAGE_KEYS and claude["total_requests"] == 1
    assert m["by_model"][0].keys() >= {"provider", "model"}
    c = LLMMetricsService.get_cost_summary(days=30)
    # 1200 x $3 + 300 x $15 per million = $0.0081
    assert c["total_cost_usd"] == 0.0081
    assert (c["local_requests"], c["remote_requests"]) == (1, 1)


def test_trends():
    LLMMetricsService.record_request(
        provider_name="ollama",
        model="llama3.2",
        status="success",
        prompt_tokens=10,
        completion_tokens=5,
        duration_seconds=0.1,
    )
    t = LLMMetricsService.get_trends(days=30)
    assert len(t["daily"]) == 30
    today = t["daily"][-1]
    assert today["requests"] == 1 and today["prompt_tokens"] == 10 and today["completion_tokens"] == 5
    assert all(d["requests"] == 0 for d in t["daily"][:-1])
    assert set(today) == {
        "date",
        "requests",
        "successful_requests",
        "failed_requests",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
        "hypothetical_cost_usd",
        "unpriced_requests",
    }
    assert t["by_provider"] == [{**today, "provider": "ollama"}]
