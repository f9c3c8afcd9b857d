"""Recording: registration of new providers, disabled providers, strings as given, redaction, tags."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from metrics_core import LLMMetricsService, queries, record_request
from metrics_core.config import settings
from metrics_core.policy import providers


def test_unknown_provider_is_registered_remote_on_first_use():
    record_request(
        provider_name="mistral",
        model="mistral-large-latest",
        status="success",
        prompt_tokens=1000,
        completion_tokens=1000,
    )
    p = queries.get_provider("mistral")
    assert (p["provider_type"], p["pricing_provider"], p["priority"], p["enabled"]) == ("remote", "mistral", 5, True)
    assert p["circuit_state"] == "closed" and p["total_requests"] == 1


def test_provider_configured_local_is_registered_local_and_free(monkeypatch):
    monkeypatch.setenv("LLM_METRICS_LOCAL_PROVIDERS", "vllm-box, gpu-server")
    record_request(
        provider_name="gpu-server", model="gpt-4o", status="success", prompt_tokens=1000, completion_tokens=1
    )
    p = queries.get_provider("gpu-server")
    assert p["provider_type"] == "local" and p["total_cost_usd"] == Decimal(0)


def test_disabled_provider_still_records():
    LLMMetricsService.set_provider_enabled(3, False)
    record_request(provider_name="claude", model="claude-sonnet-4-5", status="success")
    claude = queries.get_provider("claude")
    assert (claude["enabled"], claude["total_requests"]) == (False, 1)


def test_set_provider_enabled_returns_updated_provider():
    p = LLMMetricsService.set_provider_enabled(1, False)
    assert (p["id"], p["name"], p["enabled"]) == (1, "ollama", False)
    assert LLMMetricsService.set_provider_enabled(1, True)["enabled"] is True


def test_strings_are_stored_as_given():
    model = "weird'model\"; DROP TABLE llm_requests; -- ünïcødé 🚀"
    endpoint = "/v1/chat?x='1' OR 1=1"
    record_request(
        provider_name="openai",
        model=model,
        status="failed",
        endpoint=endpoint,
        error_message="bad 'quote' \" and unicode ✓",
    )
    row = queries.request_log().iloc[0]
    assert (row["model"], row["endpoint"]) == (model, endpoint)
    assert row["error_message"] == "bad 'quote' \" and unicode ✓"


def test_error_messages_are_redacted_and_truncated(monkeypatch):
    monkeypatch.setenv("LLM_METRICS_ERROR_MAX_CHARS", "60")
    record_request(
        provider_name="openai",
        model="gpt-4o",
        status="failed",
        error_message="Incorrect API key provided: sk-proj-abcdefghijklmnopqrstuvwxyz123456",
    )
    record_request(provider_name="openai", model="gpt-4o", status="failed", error_message="upstream said: " + "x" * 200)
    errors = queries.request_log()["error_message"].tolist()
    assert "Incorrect API key provided: [REDACTED]" in errors
    long = next(e for e in errors if e.startswith("upstream"))
    assert len(long) == 60 and long.endswith("…")
    assert settings().error_max_chars == 60


def test_tags_and_timestamp_are_kept():
    when = datetime(2026, 11, 20, 9, 30, tzinfo=timezone(timedelta(hours=2)))
    record_request(
        provider_name="claude",
        model="claude-sonnet-4-5",
        status="success",
        prompt_tokens=1000,
        completion_tokens=500,
        tags={"project": "search", "user": "ana"},
        timestamp=when,
    )
    row = queries.request_log(tag=("project", "search")).iloc[0]
    assert row["tags"] == {"project": "search", "user": "ana"}
    assert row["timestamp"].to_pydatetime() == datetime(2026, 11, 20, 7, 30)  # stored in UTC
    by_tag = queries.tag_costs(window=queries.Window(when.date(), when.date()), tag_key="project")
    assert by_tag.to_dict("records")[0]["total_cost_usd"] == 0.0105


def test_reads_in_the_same_process_see_every_record_before_them():
    for i in range(50):
        record_request(provider_name="ollama", model="llama3.2", status="success", prompt_tokens=i)
    assert queries.metrics(1)["total_prompt_tokens"] == sum(range(50))


def test_anthropic_cache_usage_priced_with_cache_rates():
    # an Anthropic response: input_tokens=100, cache_creation_input_tokens=200, cache_read_input_tokens=700
    record_request(
        provider_name="claude",
        model="claude-sonnet-4-5",
        status="success",
        prompt_tokens=100 + 200 + 700,
        completion_tokens=100,
        cache_write_tokens=200,
        cache_read_tokens=700,
    )
    # 100 x $3 + 200 x $3.75 + 700 x $0.30 + 100 x $15 = 300 + 750 + 210 + 1500 micro-dollars
    assert queries.cost_summary(1)["total_cost_usd"] == Decimal("0.00276")


def test_marking_a_provider_local_makes_its_next_calls_free():
    record_request(provider_name="openai", model="gpt-4o", status="success", prompt_tokens=1000, completion_tokens=500)
    providers.set_provider_type("openai", "local")
    record_request(provider_name="openai", model="gpt-4o", status="success", prompt_tokens=1000, completion_tokens=500)
    assert queries.cost_summary(1)["total_cost_usd"] == Decimal("0.0075")  # only the first call: $2.50/$10 per M
    assert queries.cost_summary(1)["local_requests"] == 2  # local/remote follow the provider's current type
