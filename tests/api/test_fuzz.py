"""Property-based fuzzing of the live API from its own OpenAPI schema (schemathesis): whatever the
generated request, with an editor key, a voter token or nothing, the server never answers 5xx."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.api.test_cli import free_port

EXAMPLES_PER_OPERATION = 40


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A real `verdict serve` on 127.0.0.1 with the demo data and generous rate limits."""
    folder: Path = tmp_path_factory.mktemp("fuzz")
    port = free_port()
    env = {
        **os.environ,
        "VERDICT_DATABASE_URL": f"sqlite:///{folder}/ledger.db",
        "VERDICT_VOTES_PER_MINUTE": "1000000",
        "VERDICT_VOTER_REGISTRATIONS_PER_MINUTE": "1000000",
    }
    with subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as proc:
        try:
            assert proc.stdout is not None
            editor_key = [proc.stdout.readline() for _ in range(3)][2].strip()
            proc.stdout.readline()
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 20
            while True:
                try:
                    if httpx.get(base + "/openapi.json", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "service did not start"
                time.sleep(0.1)
            yield base, editor_key
        finally:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.parametrize("who", ["editor", "voter", "anonymous"])
def test_no_generated_request_gets_a_server_error(service: tuple[str, str], who: str) -> None:
    """Every operation, EXAMPLES_PER_OPERATION generated requests each: never a 5xx."""
    base, editor_key = service
    headers = {}
    if who == "editor":
        headers = {"Authorization": f"Bearer {editor_key}"}
    elif who == "voter":
        token = httpx.post(base + "/v1/voters", timeout=5).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_url(base + "/openapi.json")
    statuses: Counter[int] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def fuzz(case: schemathesis.Case) -> None:
            response = case.call(base_url=base, headers=headers, timeout=10)
            statuses[response.status_code] += 1
            case.validate_response(response, checks=[not_a_server_error])

        fuzz()
    server_errors = sum(n for status, n in statuses.items() if status >= 500)
    print(f"\nfuzz as {who}: {sum(statuses.values())} requests, statuses {dict(statuses)}")
    assert sum(statuses.values()) > 0
    assert server_errors == 0
