"""Secrets never reach the database (issue 12): the 26 shapes tried in error_message, each redacted,
in endpoints and tag values too; what is not a secret is left alone."""

from __future__ import annotations

import pytest

from metrics_core import queries, record_request
from metrics_core.recording.redact import REDACTED, redact

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SHAPES = [
    # (text, the secret that must be gone, the text as stored)
    ("OpenAI key sk-proj-abcdefghijklmnop1234", "sk-proj-abcdefghijklmnop1234", "OpenAI key [REDACTED]"),
    ("sk-ant-api03-abcdefghijklmnopqrstuv", "sk-ant-api03", "[REDACTED]"),
    ("AKIAIOSFODNN7EXAMPLE denied", "AKIAIOSFODNN7EXAMPLE", "[REDACTED] denied"),
    (f"aws_secret_access_key={AWS_SECRET}", AWS_SECRET, "aws_secret_access_key=[REDACTED]"),
    (
        f"AWS says: key AKIAIOSFODNN7EXAMPLE secret {AWS_SECRET} invalid",
        AWS_SECRET,
        "AWS says: key [REDACTED] secret [REDACTED] invalid",
    ),
    ("AIzaSyA-abcdefghijklmnopqrstuvwxyz12345 bad", "AIzaSyA", "[REDACTED] bad"),
    ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "ghp_", "[REDACTED]"),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "github_pat_", "[REDACTED]"),
    ("glpat-abcdefghijklmnopqrst1234 revoked", "glpat-", "[REDACTED] revoked"),
    ("xoxb-123456789012-abcdefghij", "xoxb-", "[REDACTED]"),
    ("sk_live_51Habcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH", "sk_live_", "[REDACTED]"),
    ("rk_live_abcdefghijklmnop1234", "rk_live_", "[REDACTED]"),
    ("hf_abcdefghijklmnopqrstuvwxyzABCD1234 unauthorized", "hf_", "[REDACTED] unauthorized"),
    ("SG.aaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "SG.", "[REDACTED]"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N", "eyJ", "jwt [REDACTED]"),
    ("Authorization: Bearer abc.def.ghi", "abc.def", "Authorization: Bearer [REDACTED]"),
    ("x-api-key: secretvalue123", "secretvalue123", "x-api-key: [REDACTED]"),
    ("api_key=abc123def", "abc123def", "api_key=[REDACTED]"),
    ("token='t0k3n'", "t0k3n", "token='[REDACTED]'"),
    ("password: hunter2", "hunter2", "password: [REDACTED]"),
    ("db_password=hunter2;", "hunter2", "db_password=[REDACTED];"),
    ("PGPASSWORD=s3cr3t psql failed", "s3cr3t", "PGPASSWORD=[REDACTED] psql failed"),
    ("passwd=abc", "abc", "passwd=[REDACTED]"),
    ("pwd=xyz", "xyz", "pwd=[REDACTED]"),
    (
        "connect postgresql://app:pw@db.internal:5432/x failed",
        ":pw@",
        "connect postgresql://app:[REDACTED]@db.internal:5432/x failed",
    ),
    (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY----- bad",
        "MIIEow",
        "[REDACTED] bad",
    ),
]


@pytest.mark.parametrize(("text", "secret", "stored"), SHAPES, ids=[s[1][:12] for s in SHAPES])
def test_each_secret_shape_is_redacted(text, secret, stored):
    assert redact(text) == stored
    assert secret not in redact(text).replace(REDACTED, "")


@pytest.mark.parametrize(
    "text",
    [
        "max_tokens: 100000 > 64000, which is the maximum allowed",
        "commit 0123456789abcdef0123456789abcdef01234567 broke it",  # 40 hex chars, no AWS around
        "rate limit reached for requests on model gpt-4o in organization org-xyz",
        "see https://docs.anthropic.com/en/api/errors",
    ],
)
def test_ordinary_text_is_left_alone(text):
    assert redact(text) == text


def test_error_endpoint_and_tag_values_are_stored_redacted():
    record_request(
        provider_name="gemini",
        model="gemini-2.5-flash",
        status="failed",
        endpoint="/v1beta/models/gemini-2.5-flash:generateContent?key=AIzaSyA-abcdefghijklmnopqrstuvwxyz12345",
        error_message=f"db_password=hunter2 and aws_secret_access_key={AWS_SECRET}",
        tags={"project": "search", "debug": "PGPASSWORD=s3cr3t"},
    )
    row = queries.request_log().iloc[0]
    assert row["endpoint"] == "/v1beta/models/gemini-2.5-flash:generateContent?key=[REDACTED]"
    assert row["error_message"] == "db_password=[REDACTED] and aws_secret_access_key=[REDACTED]"
    assert row["tags"] == {"project": "search", "debug": "PGPASSWORD=[REDACTED]"}
    assert queries.tag_values(tag_key="debug")["tag_value"].tolist() == ["PGPASSWORD=[REDACTED]"]  # rollups too
