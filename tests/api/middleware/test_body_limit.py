"""The body-size limit reads Content-Length as a client may send it: a number too long for
`int()` to read is simply too large (413), never an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.settings import Settings
from tests.scripts.drill_harness import app_client, seeded


@pytest.mark.parametrize("auth", [False, True])
def test_a_5000_digit_content_length_is_too_large(tmp_path: Path, auth: bool) -> None:
    """With a voter token (the vote lane reads the header too) and without one."""
    settings = Settings(database_url=f"sqlite:///{tmp_path}/ledger.db")
    seeded(settings)
    with app_client(settings) as client:
        headers = {"content-type": "application/json", "content-length": "9" * 5000}
        if auth:
            headers["authorization"] = "Bearer " + client.post("/v1/voters").json()["token"]
        answer = client.put("/v1/tools/smollm3/vote", content=b'{"choice":"ship"}', headers=headers)
        assert answer.status_code == 413, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
