"""The billing clients: real-shaped admin report pages through httpx.MockTransport and a local server.

Fixtures (tests/fixtures/billing/) cover 2026-11-02 .. 2026-11-04: two pages per endpoint, models
under dated names, and 2026-11-04 without usage. Expected figures are worked out by hand below.
"""

from __future__ import annotations

import ast
import json
import logging
import threading
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from metrics_core.errors import MetricsError
from metrics_core.integrations.billing import (
    AdminKey,
    AdminKeyRejected,
    BilledUsage,
    BillingUnavailable,
    IncompletePull,
    MissingAdminKey,
    UnattributedCost,
    recorded_model_name,
    strip_date,
)
from metrics_core.integrations.billing import anthropic as b_anthropic
from metrics_core.integrations.billing import openai as b_openai
from metrics_core.integrations.billing.fetch import retry_wait
from metrics_core.integrations.billing.records import UsageSums, combine

pytestmark = pytest.mark.sqlite_only  # no database: once is enough

FIXTURES = Path(__file__).parent / "fixtures" / "billing"
START, END = date(2026, 11, 2), date(2026, 11, 5)
D2, D3, D4 = date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)
OPENAI_SECRET = "sk-admin-TESTKEY-openai-0000000000"
ANTHROPIC_SECRET = "sk-ant-admin01-TESTKEY-anthropic-0000"

PAGES = {
    b_openai.USAGE_PATH: ("openai_usage_page1", "openai_usage_page2"),
    b_openai.COSTS_PATH: ("openai_costs_page1", "openai_costs_page2"),
    b_anthropic.USAGE_PATH: ("anthropic_usage_page1", "anthropic_usage_page2"),
    b_anthropic.COSTS_PATH: ("anthropic_cost_page1", "anthropic_cost_page2"),
}


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def page_for(path: str, query: dict[str, list[str]]) -> bytes:
    """The fixture page a request asks for: page 1 without a cursor, page 2 with page 1's cursor."""
    first, second = PAGES[path]
    if "page" not in query:
        return (FIXTURES / f"{first}.json").read_bytes()
    assert query["page"] == [fixture(first)["next_page"]]
    return (FIXTURES / f"{second}.json").read_bytes()


class Recorder:
    """A MockTransport handler serving the fixtures, remembering every request."""

    def __init__(self, responses: list[httpx.Response | Exception] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.responses = list(responses or [])  # served first, in order, then the fixtures

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.responses:
            answer = self.responses.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return httpx.Response(200, content=page_for(request.url.path, parse_qs(request.url.query.decode())))

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))

    def queries(self) -> list[tuple[str, dict[str, list[str]]]]:
        return [(r.url.path, parse_qs(r.url.query.decode())) for r in self.requests]


def openai_key() -> AdminKey:
    return AdminKey(OPENAI_SECRET, "OPENAI_ADMIN_KEY")


def anthropic_key() -> AdminKey:
    return AdminKey(ANTHROPIC_SECRET, "ANTHROPIC_ADMIN_KEY")


OPENAI_EXPECTED = (
    # 2026-11-02: input 120,000 = 100,000 uncached + 20,000 cached; $0.25 + $0.025 + $0.30
    BilledUsage("openai", D2, "gpt-4o-2024-08-06", 100_000, 20_000, 0, 30_000, 40, Decimal("0.575")),
    # older shape, uncached = 500,000 - 100,000 cached; $0.06 + $0.0075 + $0.03
    BilledUsage("openai", D2, "gpt-4o-mini-2024-07-18", 400_000, 100_000, 0, 50_000, 200, Decimal("0.0975")),
    BilledUsage("openai", D3, "gpt-4o-2024-08-06", 80_000, 0, 0, 10_000, 12, Decimal("0.3")),
)

ANTHROPIC_EXPECTED = (
    # cache writes 50,000 (5m) + 10,000 (1h); cents 60.00 + 30.00 + 18.75 + 6.00 + 60.00 = 174.75
    BilledUsage("anthropic", D2, "claude-haiku-4-5-20251001", 300_000, 0, 0, 20_000, None, Decimal("0.4")),
    BilledUsage(
        "anthropic", D2, "claude-sonnet-4-5-20250929", 200_000, 1_000_000, 60_000, 40_000, None, Decimal("1.7475")
    ),
    # cents 3.7035 + 3.0 = 6.7035
    BilledUsage("anthropic", D3, "claude-sonnet-4-5-20250929", 12_345, 0, 0, 2_000, None, Decimal("0.067035")),
)


def test_openai_pull_parses_every_page_into_exact_figures() -> None:
    handler = Recorder()
    with handler.client() as client:
        pulled = b_openai.pull(start=START, end=END, key=openai_key(), client=client)

    assert pulled.provider == "openai"
    assert pulled.days == (D2, D3, D4)
    assert pulled.usage == OPENAI_EXPECTED
    assert pulled.unattributed == (
        UnattributedCost("openai", D2, "web search tool calls", Decimal("0.02")),
        UnattributedCost("openai", D3, "text-embedding-3-small (no usage row)", Decimal("0.0004")),
    )
    assert pulled.billed_cost(D2) == Decimal("0.6925")  # 0.575 + 0.0975 + 0.02
    assert pulled.billed_cost(D3) == Decimal("0.3004")
    assert pulled.billed_cost(D4) == Decimal("0")


def test_openai_requests_follow_next_page_with_the_documented_parameters() -> None:
    handler = Recorder()
    with handler.client() as client:
        b_openai.pull(start=START, end=END, key=openai_key(), client=client)

    window = {"start_time": ["1793577600"], "end_time": ["1793836800"], "bucket_width": ["1d"], "limit": ["31"]}
    usage_cursor = fixture("openai_usage_page1")["next_page"]
    costs_cursor = fixture("openai_costs_page1")["next_page"]
    assert handler.queries() == [
        ("/v1/organization/usage/completions", {**window, "group_by": ["model"]}),
        ("/v1/organization/usage/completions", {**window, "group_by": ["model"], "page": [usage_cursor]}),
        ("/v1/organization/costs", {**window, "group_by": ["line_item"]}),
        ("/v1/organization/costs", {**window, "group_by": ["line_item"], "page": [costs_cursor]}),
    ]
    for request in handler.requests:
        assert request.url.host == "api.openai.com"
        assert request.headers["authorization"] == f"Bearer {OPENAI_SECRET}"
        assert request.headers["user-agent"] == "llm-metrics (recorded vs billed)"


def test_anthropic_pull_parses_every_page_into_exact_figures() -> None:
    handler = Recorder()
    with handler.client() as client:
        pulled = b_anthropic.pull(start=START, end=END, key=anthropic_key(), client=client)

    assert pulled.provider == "anthropic"
    assert pulled.days == (D2, D3, D4)
    assert pulled.usage == ANTHROPIC_EXPECTED
    assert pulled.unattributed == (UnattributedCost("anthropic", D2, "Web Search Usage", Decimal("1")),)
    assert pulled.billed_cost(D2) == Decimal("3.1475")  # 0.4 + 1.7475 + 1.00
    assert pulled.billed_cost(D4) == Decimal("0")


def test_anthropic_requests_send_admin_headers_and_follow_next_page() -> None:
    handler = Recorder()
    with handler.client() as client:
        b_anthropic.pull(start=START, end=END, key=anthropic_key(), client=client)

    window = {
        "starting_at": ["2026-11-02T00:00:00Z"],
        "ending_at": ["2026-11-05T00:00:00Z"],
        "bucket_width": ["1d"],
        "limit": ["31"],
    }
    cursor = fixture("anthropic_usage_page1")["next_page"]
    assert handler.queries() == [
        ("/v1/organizations/usage_report/messages", {**window, "group_by[]": ["model"]}),
        ("/v1/organizations/usage_report/messages", {**window, "group_by[]": ["model"], "page": [cursor]}),
        ("/v1/organizations/cost_report", {**window, "group_by[]": ["description"]}),
        ("/v1/organizations/cost_report", {**window, "group_by[]": ["description"], "page": [cursor]}),
    ]
    for request in handler.requests:
        assert request.url.host == "api.anthropic.com"
        assert request.headers["x-api-key"] == ANTHROPIC_SECRET
        assert request.headers["anthropic-version"] == "2023-06-01"
        assert "authorization" not in request.headers


@pytest.mark.parametrize(
    ("billed", "recorded", "expected"),
    [
        ("claude-sonnet-4-5-20250929", {"claude-sonnet-4-5", "gpt-4o"}, "claude-sonnet-4-5"),
        ("gpt-4o-2024-08-06", {"gpt-4o", "gpt-4o-mini"}, "gpt-4o"),
        ("gpt-4o-mini-2024-07-18", {"gpt-4o", "gpt-4o-mini"}, "gpt-4o-mini"),
        ("gpt-4o-2024-08-06", {"gpt-4o", "gpt-4o-2024-08-06"}, "gpt-4o-2024-08-06"),
        ("claude-sonnet-4-5", {"claude-sonnet-4-5-20250929"}, "claude-sonnet-4-5-20250929"),
        ("claude-sonnet-4-5", {"claude-sonnet-4-5-20250929", "claude-sonnet-4-5@20250929"}, None),
        ("GPT-4o-2024-08-06", {"gpt-4o"}, "gpt-4o"),
        ("claude-opus-4-1-20250805", {"claude-opus-4"}, None),
        ("gpt-4o-2024-08-06", set(), None),
    ],
    ids=[
        "anthropic-dated",
        "openai-dated",
        "mini-not-4o",
        "exact-wins",
        "alias-billed-dated-recorded",
        "ambiguous",
        "case",
        "other-version",
        "nothing-recorded",
    ],
)
def test_recorded_model_name(billed: str, recorded: set[str], expected: str | None) -> None:
    assert recorded_model_name(billed, recorded) == expected


def test_strip_date() -> None:
    assert strip_date("claude-3-5-haiku-20241022") == "claude-3-5-haiku"
    assert strip_date("o3-mini-2025-01-31") == "o3-mini"
    assert strip_date("gpt-4.1") == "gpt-4.1"


def test_a_cost_under_the_undated_name_joins_the_one_dated_usage_row() -> None:
    usage = {(D2, "claude-sonnet-4-5-20250929"): UsageSums(input_tokens=5)}
    pulled = combine("anthropic", usage, {(D2, "claude-sonnet-4-5"): Decimal("0.5")}, [], (D2,))
    assert pulled.usage[0].cost_usd == Decimal("0.5")
    assert pulled.unattributed == ()


def test_openai_uncached_input_excludes_cache_reads_and_writes_when_not_given() -> None:
    # the spec's example result without input_uncached_tokens: 1,000 = 500 uncached + 400 read + 100 written
    result = {"object": "organization.usage.completions.result", "model": "gpt-4o-2024-08-06"}
    result |= {"input_tokens": 1000, "input_cached_tokens": 400, "input_cache_write_tokens": 100}
    result |= {"output_tokens": 500, "num_model_requests": 5}
    page = {"object": "page", "data": [{"object": "bucket", "start_time": 1793577600, "results": [result]}]}
    sums = b_openai.parse_usage([page], (D2,))
    assert sums == {(D2, "gpt-4o-2024-08-06"): UsageSums(500, 400, 100, 500, 5)}


def test_a_model_without_a_cost_line_has_unknown_cost_not_zero() -> None:
    usage = {(D2, "gpt-4o-2024-08-06"): UsageSums(input_tokens=5, requests=1)}
    assert combine("openai", usage, {}, [], (D2,)).usage[0].cost_usd is None


@pytest.mark.parametrize(
    ("line_item", "model"),
    [
        ("gpt-4o-2024-08-06, input", "gpt-4o-2024-08-06"),
        ("gpt-4o-mini-2024-07-18, cached input", "gpt-4o-mini-2024-07-18"),
        ("gpt-5.4, output", "gpt-5.4"),
        ("ft:gpt-4o-mini-2024-07-18:acme::abc123, input", "ft:gpt-4o-mini-2024-07-18:acme::abc123"),
        ("web search tool calls", None),
        ("GPT-4o mini, input", None),
        (None, None),
    ],
)
def test_openai_line_item_model(line_item: str | None, model: str | None) -> None:
    assert b_openai.line_item_model(line_item) == model


@pytest.mark.parametrize(("module", "variable"), [(b_openai, "OPENAI_ADMIN_KEY"), (b_anthropic, "ANTHROPIC_ADMIN_KEY")])
def test_a_missing_key_names_its_variable(monkeypatch, module, variable: str) -> None:
    monkeypatch.setenv(variable, "  ")
    with pytest.raises(MissingAdminKey, match=f"^{variable} is not set") as caught:
        module.pull(start=START, end=END, client=Recorder().client())
    assert isinstance(caught.value, MetricsError)


def test_the_key_is_read_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", OPENAI_SECRET)
    handler = Recorder()
    with handler.client() as client:
        assert b_openai.pull(start=START, end=END, client=client).usage == OPENAI_EXPECTED
    assert handler.requests[0].headers["authorization"] == f"Bearer {OPENAI_SECRET}"


def test_an_openai_401_names_the_key_and_never_shows_it() -> None:
    body = {
        "error": {
            "message": f"Incorrect API key provided: {OPENAI_SECRET}. You can find your API key at ...",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }
    handler = Recorder([httpx.Response(401, json=body)])
    sleeps: list[float] = []
    with pytest.raises(AdminKeyRejected) as caught, handler.client() as client:
        b_openai.pull(start=START, end=END, key=openai_key(), client=client, sleep=sleeps.append)
    text = str(caught.value)
    assert text.startswith("openai rejected OPENAI_ADMIN_KEY (HTTP 401: Incorrect API key provided: ***.")
    assert "not an admin key" in text
    assert OPENAI_SECRET not in text + repr(caught.value)
    assert "TESTKEY" not in text
    assert len(handler.requests) == 1 and sleeps == []


def test_an_anthropic_403_says_the_key_is_not_an_admin_key() -> None:
    body = {"type": "error", "error": {"type": "permission_error", "message": "This API key does not have access"}}
    handler = Recorder([httpx.Response(403, json=body)])
    with pytest.raises(AdminKeyRejected) as caught, handler.client() as client:
        b_anthropic.pull(start=START, end=END, key=anthropic_key(), client=client)
    assert str(caught.value) == (
        "anthropic rejected ANTHROPIC_ADMIN_KEY (HTTP 403: This API key does not have access): the key is wrong "
        "or revoked, or it is not an admin key (an Admin API key starts with sk-ant-admin)"
    )


def test_retries_log_no_key(caplog) -> None:
    handler = Recorder([httpx.Response(429, json={"error": {"message": f"slow down {OPENAI_SECRET}"}})])
    with caplog.at_level(logging.DEBUG), handler.client() as client:
        b_openai.pull(start=START, end=END, key=openai_key(), client=client, sleep=lambda s: None)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "openai /v1/organization/usage/completions: HTTP 429, retry 1 in 1.0s" in logged
    assert "TESTKEY" not in logged


def test_the_clients_import_only_errors_from_metrics_core() -> None:
    package = Path(b_openai.__file__).parent
    imported = set()
    for source in package.glob("*.py"):
        if source.name == "reconcile.py":  # the one module that stores a pull (storage, queries)
            continue
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    ours = {name for name in imported if name.startswith("metrics_core")}
    assert {name for name in ours if not name.startswith("metrics_core.integrations.billing")} == {
        "metrics_core.errors"
    }
    assert imported - ours <= {"__future__", "collections.abc", "dataclasses", "datetime", "decimal", "email.utils"} | {
        "httpx",
        "json",
        "logging",
        "os",
        "re",
        "time",
        "typing",
    }


def test_the_key_never_appears_in_reprs() -> None:
    key = anthropic_key()
    assert ANTHROPIC_SECRET not in repr(key) + str(key) + f"{key}"
    assert repr(key) == "AdminKey(variable='ANTHROPIC_ADMIN_KEY')"


def test_429_waits_as_retry_after_says_then_carries_on() -> None:
    limited = httpx.Response(429, headers={"retry-after": "7"}, json={"error": {"message": "Rate limit reached"}})
    handler = Recorder([limited, httpx.Response(503)])
    sleeps: list[float] = []
    with handler.client() as client:
        pulled = b_openai.pull(start=START, end=END, key=openai_key(), client=client, sleep=sleeps.append)
    assert pulled.usage == OPENAI_EXPECTED
    assert sleeps == [7.0, 2.0]  # retry-after, then the second back-off step
    assert len(handler.requests) == 6  # 2 retries + 4 pages
    assert handler.queries()[0] == handler.queries()[2]  # the same first page, asked again


def test_429_on_every_attempt_gives_up_after_the_bounded_attempts() -> None:
    handler = Recorder([httpx.Response(529) for _ in range(3)] + [httpx.Response(429)])
    sleeps: list[float] = []
    with (
        pytest.raises(
            BillingUnavailable, match=r"^anthropic /v1/organizations/usage_report/messages: HTTP 429 after 4 "
        ),
        handler.client() as client,
    ):
        b_anthropic.pull(start=START, end=END, key=anthropic_key(), client=client, sleep=sleeps.append)
    assert sleeps == [1.0, 2.0, 4.0]
    assert len(handler.requests) == 4


@pytest.mark.parametrize(
    ("header", "attempt", "wait"),
    [(None, 1, 1.0), (None, 3, 4.0), ("2.5", 1, 2.5), ("3600", 1, 60.0), ("-4", 2, 0.0), ("soon", 2, 2.0)],
)
def test_retry_wait(header: str | None, attempt: int, wait: float) -> None:
    assert retry_wait(header, attempt) == wait


def test_a_timeout_on_a_later_page_raises_instead_of_returning_part() -> None:
    usage_page1 = httpx.Response(200, content=(FIXTURES / "openai_usage_page1.json").read_bytes())
    handler = Recorder([usage_page1, httpx.ReadTimeout("read timed out")])
    with pytest.raises(BillingUnavailable) as caught, handler.client() as client:
        b_openai.pull(start=START, end=END, key=openai_key(), client=client, timeout=2.5)
    assert str(caught.value) == (
        "openai /v1/organization/usage/completions timed out after 2.5s; nothing was kept, try again later"
    )
    assert len(handler.requests) == 2


def test_a_refused_connection_is_a_clear_error() -> None:
    handler = Recorder([httpx.ConnectError("[Errno 111] Connection refused")])
    with pytest.raises(BillingUnavailable) as caught, handler.client() as client:
        b_anthropic.pull(start=START, end=END, key=anthropic_key(), client=client, base_url="http://127.0.0.1:9")
    assert str(caught.value) == (
        "anthropic /v1/organizations/usage_report/messages: cannot connect to http://127.0.0.1:9 (ConnectError)"
    )


def test_a_report_without_a_requested_day_is_incomplete() -> None:
    short = fixture("anthropic_usage_page2")
    short["data"] = short["data"][:1]  # 2026-11-04 missing, and no more pages
    handler = Recorder([httpx.Response(200, content=(FIXTURES / "anthropic_usage_page1.json").read_bytes())])
    handler.responses.append(httpx.Response(200, json=short))
    with pytest.raises(IncompletePull, match=r"no bucket for 2026-11-04"), handler.client() as client:
        b_anthropic.pull(start=START, end=END, key=anthropic_key(), client=client)


def test_has_more_without_a_cursor_is_incomplete() -> None:
    broken = fixture("openai_usage_page1") | {"next_page": None}
    handler = Recorder([httpx.Response(200, json=broken)])
    with pytest.raises(IncompletePull, match="has_more is true but next_page is missing"), handler.client() as client:
        b_openai.pull(start=START, end=END, key=openai_key(), client=client)


def test_a_5xx_that_is_not_json_still_gives_a_clear_error() -> None:
    handler = Recorder([httpx.Response(500, text="<html>oops</html>")] * 4)
    expected = r"^openai /v1/organization/usage/completions: HTTP 500 after 4 attempts$"
    with pytest.raises(BillingUnavailable, match=expected), handler.client() as client:
        b_openai.pull(start=START, end=END, key=openai_key(), client=client, sleep=lambda s: None)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [(START, START, "end must be after start"), ("2026-11-02", END, "start and end must be dates")],
)
def test_an_empty_or_wrong_window_is_a_value_error(start, end, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        b_openai.pull(start=start, end=end, key=openai_key(), client=Recorder().client())


class FixtureServer(BaseHTTPRequestHandler):
    """Serves the fixture pages over real HTTP; 401 without the expected key."""

    seen: ClassVar[list[tuple[str, dict[str, list[str]], dict[str, str]]]] = []

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        self.seen.append((url.path, query, {k.lower(): v for k, v in self.headers.items()}))
        if self.headers.get("x-api-key") != ANTHROPIC_SECRET:
            body, status = (
                b'{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}',
                401,
            )
        else:
            body, status = page_for(url.path, query), 200
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # keep the test output quiet
        pass


def test_anthropic_against_a_local_http_server() -> None:
    FixtureServer.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FixtureServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        pulled = b_anthropic.pull(start=START, end=END, key=anthropic_key(), base_url=base_url)
        with pytest.raises(AdminKeyRejected, match=r"HTTP 401: invalid x-api-key"):
            b_anthropic.pull(
                start=START, end=END, key=AdminKey("sk-ant-api03-wrong", "ANTHROPIC_ADMIN_KEY"), base_url=base_url
            )
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)

    assert pulled.usage == ANTHROPIC_EXPECTED
    assert pulled.days == (D2, D3, D4)
    assert [(path, "page" in query) for path, query, _ in FixtureServer.seen] == [
        (b_anthropic.USAGE_PATH, False),
        (b_anthropic.USAGE_PATH, True),
        (b_anthropic.COSTS_PATH, False),
        (b_anthropic.COSTS_PATH, True),
        (b_anthropic.USAGE_PATH, False),
    ]
    headers = FixtureServer.seen[0][2]
    assert headers["anthropic-version"] == "2023-06-01"
    assert headers["x-api-key"] == ANTHROPIC_SECRET
