"""Structured logs: one JSON object per line, and no credential in them, ever: not the bearer
token of a request, not an editor key, not a password in a database URL."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.server.logs import _SECRETS, REDACTED, BackgroundHandler, JsonFormatter, log_config, redact
from domain.settings import Settings
from tests.scripts.drill_harness import app_client, seeded


def formatted(records: list[logging.LogRecord]) -> list[str]:
    formatter = JsonFormatter()
    return [formatter.format(r) for r in records]


def test_a_request_with_a_token_logs_no_secret(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Votes with a voter token, writes with an editor key, a forged key and a refused vote,
    all logged at DEBUG: neither the raw records nor the JSON lines hold any of the secrets."""
    key = seeded(settings)
    forged = "vle_" + "Q" * 43
    caplog.set_level(logging.DEBUG)
    with app_client(settings) as client:
        token = client.post("/v1/voters").json()["token"]
        voter = {"Authorization": f"Bearer {token}"}
        assert client.put("/v1/tools/smollm3/vote", json={"choice": "ship"}, headers=voter)
        assert client.put("/v1/tools/smollm3/vote", json={"choice": "nope"}, headers=voter)
        editor = {"Authorization": f"Bearer {key}"}
        body = {"pricing": "Paid", "reason": "tests"}
        assert client.patch("/v1/tools/smollm3", json=body, headers=editor)
        assert client.patch(
            "/v1/tools/smollm3", json=body, headers={"Authorization": f"Bearer {forged}"}
        )
    access = [r for r in caplog.records if r.name == "verdict.access"]
    assert len(access) >= 5, "every request is logged"
    assert {"method", "path", "status", "duration_ms"} <= set(vars(access[-1]))
    raw = "\n".join(r.getMessage() + repr(vars(r)) for r in caplog.records)
    lines = formatted(caplog.records)
    for secret in (token, token.partition(".")[2], key, forged):
        assert secret not in raw
        assert not any(secret in line for line in lines)
    for line in lines:
        assert isinstance(json.loads(line), dict)


def test_the_formatter_redacts_anything_shaped_like_a_credential() -> None:
    """Defence in depth: whatever a library puts in a message or an exception is scrubbed."""
    secrets = [
        "Authorization: Bearer v_abc123.c2VjcmV0LW1hYw",
        "key vle_AbCdEf0123456789_-xyz leaked",
        "session vls_AbCdEf0123456789_-xyz of the editor console",
        "__Host-verdict-editor=vls_AbCdEf0123456789_-xyz",
        "token=v_abc123.c2VjcmV0LW1hYw",
        "postgresql://ann:hunter2@db.local:5432/ledger",
        "cookie __Host-verdict-voter=v_abc123.c2VjcmV0",
        '{"password": "hunter2"}',
    ]
    for text in secrets:
        scrubbed = redact(text)
        assert REDACTED in scrubbed, text
        assert "hunter2" not in scrubbed and "c2VjcmV0" not in scrubbed
        assert "AbCdEf0123456789" not in scrubbed
    assert redact("GET /v1/tools 200 in 3 ms") == "GET /v1/tools 200 in 3 ms"


def test_json_lines_carry_fields_and_redacted_exceptions() -> None:
    """extra= fields become JSON fields; an exception's text is redacted like the message."""
    try:
        raise RuntimeError("could not connect to postgresql://ann:hunter2@db/ledger")
    except RuntimeError:
        record = logging.LogRecord("verdict", logging.ERROR, __file__, 1, "%s", ("x",), None)
        record.exc_info = sys.exc_info()
    record.projection = "audit"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["level"] == "error" and entry["msg"] == "x" and entry["projection"] == "audit"
    assert "RuntimeError" in entry["exc"] and "hunter2" not in entry["exc"]


credential_text = st.lists(
    st.sampled_from(
        [*"abcvxyzKEY_.-:=@/ \"'", "Bearer ", "basic ", "token=", "vle_", "vls_", "v_", "://"]
    ),
    max_size=20,
).map("".join)
text_with_credentials = st.lists(
    st.sampled_from(
        [
            "Authorization: Bearer ",
            "key=",
            "Password: ",
            "vle_AbC",
            "vls_AbC",
            "v_ab12.Zm9v",
            "postgresql://ann:pw@db/x",
            "__Host-verdict-voter=",
            "GET /v1/tools/monkey/vote 200",
        ]
    )
    | credential_text
    | st.text(max_size=10),
    max_size=6,
).map("".join)


@given(text_with_credentials)
def test_redaction_skips_only_text_with_nothing_to_scrub(text: str) -> None:
    """The quick test that lets most log lines through untouched never lets a secret by: the
    result is always what every scrubbing pattern applied in turn gives."""
    expected = text
    for pattern, replacement in _SECRETS:
        expected = pattern.sub(replacement, expected)
    assert redact(text) == expected


def test_lines_are_written_whole_and_in_order_by_the_background_writer() -> None:
    """The handler every process logs through hands records to a thread that formats and writes
    them (a request never waits on stderr): each line is the JSON the formatter makes, fields,
    redaction and exception included, in the order logged, all written by the time it closes."""
    stream = io.StringIO()
    lines = logging.StreamHandler(stream)
    lines.setFormatter(JsonFormatter())
    handler = BackgroundHandler(lines)
    logger = logging.getLogger("verdict.tests.background")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for n in range(50):
            logger.warning("vote %d by %s", n, "Bearer v_abc.c2VjcmV0", extra={"status": 200 + n})
        try:
            raise RuntimeError("postgresql://ann:hunter2@db/x")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
        handler.close()
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["status"] for e in entries[:50]] == [200 + n for n in range(50)]
    assert entries[7]["msg"] == f"vote 7 by Bearer {REDACTED}"
    assert entries[-1]["msg"] == "failed" and "RuntimeError" in entries[-1]["exc"]
    assert "hunter2" not in stream.getvalue()


def test_the_configured_handler_writes_in_the_background() -> None:
    """What `verdict serve` configures (and uvicorn re-applies in each worker) is that handler."""
    config = log_config(Settings())
    handler = logging.config.DictConfigurator(config).configure_handler(
        config["handlers"]["stderr"]
    )
    try:
        assert isinstance(handler, BackgroundHandler)
    finally:
        handler.close()
