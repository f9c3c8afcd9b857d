"""Fresh price data: ``llm-metrics prices update`` (a genai-prices data file from a local HTTP server
or a file), ``prices status``, other processes of the database pricing with it, ``reprice --dry-run``,
price provenance per source (Costs page query), and the dashboard's warning on stale data.

The data file here is a small, hand-written genai-prices v2 data file (the provider array
genai-prices publishes): Mistral Large 3 at $0.50/$1.50 per million (genai-prices' bundled data
still has $2/$6), DeepSeek V3.2 at $0.28 in / $0.028 cache read / $0.42 out at all hours, and a
model the bundled data lacks.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import time_machine
from sqlalchemy import select

from metrics_core import record_request, storage
from metrics_core.cli.main import main as cli_main
from metrics_core.pricing import snapshot
from metrics_core.queries.costs import price_sources
from metrics_core.queries.price_data import price_data_status

ROOT = Path(__file__).resolve().parent.parent
TEN = Decimal("1e-10")
DATA = [
    {
        "id": "mistral",
        "name": "Mistral",
        "api_pattern": "https://api\\.mistral\\.ai",
        "model_match": {"starts_with": "mistral"},
        "models": [
            {
                "id": "mistral-large-2512",
                "match": {"or": [{"equals": "mistral-large-2512"}, {"equals": "mistral-large-latest"}]},
                "prices": {"input_mtok": 0.5, "output_mtok": 1.5},
            },
            {
                "id": "mistral-brand-new",
                "match": {"equals": "mistral-brand-new"},
                "prices": {"input_mtok": 1, "output_mtok": 3},
            },
        ],
    },
    {
        "id": "deepseek",
        "name": "DeepSeek",
        "api_pattern": "https://api\\.deepseek\\.com",
        "models": [
            {
                "id": "deepseek-chat",
                "match": {"equals": "deepseek-chat"},
                "prices": {"input_mtok": 0.28, "cache_read_mtok": 0.028, "output_mtok": 0.42},
            }
        ],
    },
]


@pytest.fixture(autouse=True)
def near_the_bundled_data():
    """Figures here count the calls of the last days and the age of genai-prices 0.2.3's bundled data:
    keep "now" a few days after the calls (any real date would drift away from both)."""
    with time_machine.travel(datetime(2026, 11, 25, 12, 0, tzinfo=UTC), tick=True):
        yield


@pytest.fixture(autouse=True)
def bundled_data_after():
    yield
    snapshot.install(None)  # the process prices with the bundled data again


@pytest.fixture
def server():
    """A local HTTP server: /data.json is DATA, /broken.json is not price data."""
    body = json.dumps(DATA).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            payload = {"/data.json": body, "/broken.json": b'{"not": "a list"}'}.get(self.path)
            self.send_response(200 if payload else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(payload or b"")

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def cli(*argv, capsys) -> tuple[int, str, str]:
    code = cli_main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def costs(engine) -> list[Decimal | None]:
    r = storage.requests
    with engine.connect() as conn:
        rows = conn.execute(select(r.c.cost_usd).order_by(r.c.id)).scalars().all()
    return [None if c is None else Decimal(str(c)).quantize(TEN) for c in rows]


def call(model, when, **kw):
    record_request(
        provider_name=kw.pop("provider", "mistral"),
        model=model,
        status="success",
        prompt_tokens=kw.pop("pt", 1_000_000),
        completion_tokens=kw.pop("ct", 1_000_000),
        timestamp=when,
        sync=True,
        **kw,
    )


WHEN = datetime(2026, 11, 20, 12, tzinfo=UTC)


def test_update_from_a_url_then_reprice(engine, server, capsys):
    call("mistral-large-latest", WHEN)  # bundled data: $2 + $6
    assert costs(engine) == [Decimal("8")]
    code, out, err = cli("prices", "update", "--url", f"{server}/data.json", capsys=capsys)
    assert code == 0, err
    assert "✓ Stored price data #1 (3 models)" in out
    assert "Models added (1): mistral/mistral-brand-new" in out
    assert "Prices changed (2): deepseek/deepseek-chat, mistral/mistral-large-2512" in out
    call("mistral-large-latest", WHEN)  # new calls: $0.50 + $1.50
    call("mistral-brand-new", WHEN, pt=1000, ct=1000)  # 1000 x $1 + 1000 x $3 per million
    assert costs(engine) == [Decimal("8"), Decimal("2"), Decimal("0.004")]
    label = f"genai-prices:{datetime.now(UTC):%Y-%m-%d}"
    sources = price_sources(window=None, days=60, engine=engine)
    assert [(s["price_source"], s["calls"]) for s in sources] == [(label, 2), ("genai-prices:0.2.3", 1)]

    code, out, _ = cli("reprice", "--dry-run", capsys=capsys)
    assert code == 0
    assert "Dry run: 1 of 3 calls would change (nothing written)." in out
    assert "mistral      mistral-large-latest                       1 $     8.000000 $     2.000000" in out
    assert costs(engine) == [Decimal("8"), Decimal("2"), Decimal("0.004")]
    code, out, _ = cli("reprice", capsys=capsys)
    assert "✓ Repriced 3 calls, 1 changed. Total cost $10.004000 -> $4.004000" in out
    assert costs(engine) == [Decimal("2"), Decimal("2"), Decimal("0.004")]


def test_update_from_a_file_and_status(engine, tmp_path, capsys):
    code, out, _ = cli("prices", "status", capsys=capsys)
    assert code == 0 and "Price data in use: genai-prices:0.2.3" in out and "bundled with genai-prices 0.2.3" in out
    path = tmp_path / "data.json"
    path.write_text(json.dumps(DATA))
    assert cli("prices", "update", "--file", str(path), capsys=capsys)[0] == 0
    code, out, _ = cli("prices", "update", "--file", str(path), capsys=capsys)
    assert "No model added, removed or repriced." in out
    code, out, _ = cli("prices", "status", capsys=capsys)
    assert f"Source: {path.resolve()}" in out and "(0 days old)  Models: 3" in out
    with time_machine.travel(datetime.now(UTC) + timedelta(days=61), tick=False):
        status = price_data_status(engine)
        assert (status["age_days"], status["stale"]) == (61, True)
        code, out, _ = cli("prices", "status", capsys=capsys)
        assert "older than 60 days" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "{server}/broken.json"], "the price data must be genai-prices' provider array"),
        (["--url", "{server}/missing.json"], "could not fetch the price data from"),
        (["--url", "ftp://example.com/x"], "url must start with http:// or https://"),
        (["--file", "/no/such/file.json"], "cannot read --file /no/such/file.json"),
    ],
)
def test_bad_data_is_refused_and_nothing_stored(engine, server, capsys, args, message):
    code, _, err = cli("prices", "update", *[a.format(server=server) for a in args], capsys=capsys)
    assert code == 1 and message in err
    with engine.connect() as conn:
        assert conn.execute(select(storage.price_data.c.id)).first() is None
    assert snapshot.installed_key() is None


@pytest.mark.sqlite_only  # another process reading the same SQLite file
def test_another_process_prices_with_the_stored_data(engine, metrics_db, server, capsys):
    assert cli("prices", "update", "--url", f"{server}/data.json", capsys=capsys)[0] == 0
    script = (
        "from datetime import datetime, UTC\n"
        "from metrics_core import record_request\n"
        "record_request(provider_name='Mistral', model='mistral-large-latest', status='success',"
        " prompt_tokens=1000000, completion_tokens=1000000, timestamp=datetime(2026, 11, 20, tzinfo=UTC), sync=True)\n"
    )
    env = {"PYTHONPATH": str(ROOT), "LLM_METRICS_DB_URL": metrics_db, "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=120)
    assert costs(engine) == [Decimal("2")]


def test_reprice_shows_progress(engine, capsys):
    for day in range(3):
        call("mistral-large-latest", WHEN - timedelta(days=day))
    code, out, err = cli("reprice", capsys=capsys)
    assert code == 0 and "✓ Repriced 3 calls, 0 changed." in out
    assert err == ""  # a progress bar on a terminal, quiet when piped (as here)
