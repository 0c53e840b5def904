"""What the operations tests share: scripts/drill.py as a module (scripts/ is not a package, and
the suite runs the very scenarios the drill runs), and an app over a seeded store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.bootstrap import open_runtime
from domain.seeding import seed_demo
from domain.settings import Settings
from tests.scripts.script_module import load_script

ROOT = Path(__file__).parents[2]


drill = load_script("drill.py", "verdict_drill")


def seeded(settings: Settings) -> str:
    """Seed the demo data and make an editor key; the key."""
    runtime = open_runtime(settings)
    try:
        seed_demo(runtime.ledger)
        return runtime.credentials.create_key("ann")
    finally:
        runtime.close()


@contextmanager
def app_client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus exposition: (name, sorted labels) -> value."""
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


def sample(
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)
