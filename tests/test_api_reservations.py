"""The HTTP API's reservations: hold, settle, release, 409 when a hard budget would be exceeded."""

from __future__ import annotations

from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from metrics_core import flush, storage
from metrics_core.http_api import api_keys
from metrics_core.http_api import app as http_api_app
from metrics_core.policy import budgets

CALL = {"provider_name": "openai", "model": "gpt-4o", "prompt_tokens": 4000, "max_output_tokens": 4000}


@pytest.fixture
def client(metrics_db):
    with TestClient(http_api_app.create_app(token_cache_seconds=0)) as c:
        yield c


@pytest.fixture
def writer(engine) -> dict:
    return {"Authorization": f"Bearer {api_keys.create_token(name='w', scope='write', engine=engine)[0]}"}


@pytest.fixture
def reader(engine) -> dict:
    return {"Authorization": f"Bearer {api_keys.create_token(name='r', scope='read', engine=engine)[0]}"}


def _costs(engine) -> list:
    flush()
    r = storage.requests
    with engine.connect() as conn:
        return conn.execute(select(r.c.status, r.c.cost_usd, r.c.tags).order_by(r.c.id)).all()


def _holds(engine) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(storage.budget_holds)).all())


def test_reserve_settle_and_the_409_that_names_the_budget(client, writer, reader, engine):
    budgets.set_budget(name="cap", amount_usd="0.08", hard=True, engine=engine)
    assert client.post("/api/llm/reservations", json=CALL).status_code == 401
    assert client.post("/api/llm/reservations", json=CALL, headers=reader).status_code == 403
    r = client.post("/api/llm/reservations", json={**CALL, "tags": {"project": "search"}}, headers=writer)
    assert r.status_code == 201
    body = r.json()
    assert len(body["id"]) == 32
    assert {k: v for k, v in body.items() if k != "id"} == {
        "provider_name": "openai",
        "model": "gpt-4o",
        "worst_case_usd": 0.05,
        "holds": [{"budget": "cap", "amount_usd": 0.05}],
    }
    refused = client.post("/api/llm/reservations", json=CALL, headers=writer)
    assert refused.status_code == 409
    assert {k: v for k, v in refused.json().items() if k != "detail"} == {
        "budget": "cap",
        "limit_usd": 0.08,
        "spent_usd": 0.0,
        "held_usd": 0.05,
        "requested_usd": 0.05,
    }
    assert "hard budget 'cap' would be exceeded" in refused.json()["detail"]
    settled = client.post(
        f"/api/llm/reservations/{body['id']}/settle",
        json={"status": "success", "prompt_tokens": 4000, "completion_tokens": 2000},
        headers=writer,
    )
    assert settled.status_code == 200 and settled.json() == {"id": body["id"], "recorded": 1}
    assert _costs(engine) == [("success", Decimal("0.03"), '{"project": "search"}')]
    assert _holds(engine) == 0
    again = client.post(f"/api/llm/reservations/{body['id']}/settle", json={"status": "success"}, headers=writer)
    assert again.status_code == 404
    st = budgets.budget_status(budgets.get_budget("cap", engine), engine=engine)
    assert (st.spent, st.held) == (Decimal("0.03"), Decimal(0))


def test_release_and_unbudgeted_reservations(client, writer, engine):
    r = client.post(
        "/api/llm/reservations", json={**CALL, "prompt_tokens": None, "prompt_text": "héllo"}, headers=writer
    )
    assert r.status_code == 201
    # no hard budget covers it: nothing held, but a row keeps the call's provider and model for the settle
    assert r.json()["holds"] == [] and r.json()["worst_case_usd"] == 0.040015  # 6 x 2.50/M + 4000 x 10/M
    rid = r.json()["id"]
    assert client.delete(f"/api/llm/reservations/{rid}", headers=writer).json() == {"id": rid, "recorded": 0}
    assert client.delete(f"/api/llm/reservations/{rid}", headers=writer).status_code == 404
    assert _holds(engine) == 0 and _costs(engine) == []
    rid = client.post("/api/llm/reservations", json=CALL, headers=writer).json()["id"]
    bad = client.post(f"/api/llm/reservations/{rid}/settle", json={"status": "nope"}, headers=writer)
    assert bad.status_code == 422
    bad = client.post(
        f"/api/llm/reservations/{rid}/settle",
        json={"status": "success", "prompt_tokens": 1, "cache_read_tokens": 2},
        headers=writer,
    )
    assert bad.status_code == 422 and "cache_read_tokens" in bad.json()["detail"]
    assert (
        client.post("/api/llm/reservations/not-an-id/settle", json={"status": "success"}, headers=writer).status_code
        == 422
    )
    missing = client.post("/api/llm/reservations", json={**CALL, "prompt_tokens": None}, headers=writer)
    assert missing.status_code == 422 and "prompt_text" in missing.json()["detail"]
