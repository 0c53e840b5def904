"""Property-based fuzzing of the live API from its own OpenAPI schema (schemathesis): whatever the
generated request, with an editor key, a voter token or nothing, the server never answers 5xx."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from domain.settings import Settings
from tests.conftest import fresh_postgres_database
from tests.serving import serving

EXAMPLES_PER_OPERATION = 40


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One store per backend for the whole module: the fuzzing runs pile up in it."""
    if request.param == "sqlite":
        folder: Path = tmp_path_factory.mktemp("fuzz")
        yield f"sqlite:///{folder}/ledger.db"
        return
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def service(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """A real `verdict serve` on 127.0.0.1 with the demo data and generous rate limits."""
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with serving(Settings(database_url=database_url), log) as served:
        assert served.editor_key is not None
        yield served.url, served.editor_key


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
