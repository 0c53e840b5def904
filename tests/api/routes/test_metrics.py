"""/metrics: requests and errors by status, latencies, votes, projection batch sizes and lag, in
the Prometheus text format."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST

from domain.settings import Settings
from tests.api.routes.test_health import ready_when_caught_up
from tests.scripts.drill_harness import app_client, sample, samples, seeded

VOTE = "/v1/tools/{slug}/vote"


def test_metrics_count_requests_errors_votes_and_projection_lag(settings: Settings) -> None:
    """A vote, a change, a refused vote and a 404: each counted by route template and status,
    timed, and the projections' batches and lag (0 once caught up) reported."""
    seeded(settings)
    with app_client(settings) as client:
        before = samples(client.get("/metrics").text)
        token = client.post("/v1/voters").json()["token"]
        voter = {"Authorization": f"Bearer {token}"}
        assert client.put("/v1/tools/smollm3/vote", json={"choice": "ship"}, headers=voter)
        assert client.put("/v1/tools/smollm3/vote", json={"choice": "skip"}, headers=voter)
        refused = client.put("/v1/tools/smollm3/vote", json={"choice": "maybe"}, headers=voter)
        assert refused.status_code == 422
        assert client.get("/v1/tools/ghost").status_code == 404
        ready_when_caught_up(client)
        answer = client.get("/metrics")
        assert answer.headers["content-type"] == CONTENT_TYPE_LATEST
        after = samples(answer.text)

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("verdict_http_requests_total", method="PUT", route=VOTE, status="201") == 1
    assert grew("verdict_http_requests_total", method="PUT", route=VOTE, status="200") == 1
    assert grew("verdict_http_requests_total", method="PUT", route=VOTE, status="422") == 1
    route = "/v1/tools/{slug}"
    assert grew("verdict_http_requests_total", method="GET", route=route, status="404") == 1
    assert grew("verdict_http_errors_total", status="422") == 1
    assert grew("verdict_http_errors_total", status="404") == 1
    assert grew("verdict_votes_total", result="new") == 1
    assert grew("verdict_votes_total", result="update") == 1
    assert grew("verdict_votes_total", result="refused") == 1
    assert grew("verdict_http_request_duration_seconds_count", method="PUT", route=VOTE) == 3
    fast = grew("verdict_http_request_duration_seconds_bucket", method="PUT", route=VOTE, le="5.0")
    assert fast == 3
    for name in ("catalog", "audit"):
        assert grew("verdict_projection_batch_events_count", projection=name) >= 1
        assert grew("verdict_projection_batch_events_sum", projection=name) >= 2
        assert sample(after, "verdict_projection_lag", projection=name) == 0
        assert sample(after, "verdict_projection_position", projection=name) == sample(
            after, "verdict_log_position"
        )
    assert sample(after, "verdict_database_up") == 1
    assert grew("verdict_write_batch_events_count") >= 1, "group commits are observed"
    assert grew("verdict_write_batch_events_sum") == 2, "two votes wrote one event each"
    unmatched = [k for k in after if dict(k[1]).get("route", "").startswith("/v1/tools/ghost")]
    assert not unmatched, "raw paths must not become label values"
