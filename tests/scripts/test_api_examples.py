"""docs/api-examples.md has one example for every route the API describes, and each one is
what the service answers today (request, status and the answer's shape)."""

from __future__ import annotations

from api.app import create_app
from domain.settings import Settings
from tests.scripts.script_module import load_script

api_examples = load_script("api_examples.py", "api_examples")


def test_every_route_has_one_example() -> None:
    spec = create_app(Settings(database_url="sqlite:///:memory:")).openapi()
    routes = {f"{m.upper()} {path}" for path, ops in spec["paths"].items() for m in ops}
    examples = [f"{e.method} {e.route}" for e in api_examples.EXAMPLES]
    assert sorted(examples) == sorted(routes)


def test_the_examples_are_what_the_service_answers() -> None:
    done = api_examples.run_examples()
    assert [d["status"] for d in done if not 200 <= d["status"] < 300] == [], done
    fresh = api_examples.skeleton(api_examples.render(done))
    assert len(fresh) == len(api_examples.EXAMPLES)
    assert api_examples.skeleton(api_examples.OUT.read_text()) == fresh, (
        "docs/api-examples.md is out of date: run scripts/api_examples.py"
    )
