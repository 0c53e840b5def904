"""The catalog-size section of scripts/bench/bench.py (issue 17): the vote and read measurements
on the demo ledger (6 tools) and on a catalog-size ledger (5,000 tools, ~500k voters, 1.5M
events; scripts/bench/scale_ledger.py builds it once and caches it), beside the ceiling (the
same HTTP stack answering votes with no database, scripts/bench/ceiling.py), in one run.

The three services run at once and the load visits them in turn, `rounds` slices each in a
rotating order, as bench.py's vote section does; on the catalog ledger each voter votes on six
tools drawn from all 5,000, and the reader GETs random tools of all of them. Once the load is
over and every projection holds the whole log, the list answers that grow with a catalog are
timed (scripts/bench/lists.py's `measure`): p50 and size of a page of tools, the home page and
the feed."""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench import (
    BENCH,
    PYTHON,
    ROOT,
    SLUGS,
    UNLIMITED,
    Backend,
    Command,
    Load,
    Server,
    combine,
    ledger_command,
    mint_voters,
    run_load,
    serve,
)
from ceiling import SECRET_ENV, MemoryCredentials
from lists import caught_up, measure

from domain.application import Ledger
from domain.settings import Settings

SERVICES = ("ceiling", "demo", "catalog")
READ_PATHS = ("/v1/tools", "/", "/feed.xml")
READ_REQUESTS = 30
"""GETs of each list path, over READ_ROUNDS turns."""
READ_ROUNDS = 3
TARGETS = {
    "catalog_vs_demo": 0.9,
    "read_p99_ms": 20.0,
    "home_bytes": 100_000,
    "home_p50_ms": 20.0,
    "list_bytes": 200_000,
    "demo_vs_ceiling_sqlite": 0.6,
}


def build(backend: Backend, tools: int, events: int, cache: Path) -> dict[str, Any]:
    """The cached catalog ledger of this backend, built first if absent (in its own process)."""
    argv = [PYTHON, str(BENCH / "scale_ledger.py"), backend.name]
    argv += ["--tools", str(tools), "--events", str(events), "--postgres-url", backend.admin_url]
    argv += ["--cache", str(cache)]
    done = subprocess.run(  # noqa: S603 - our own script
        argv, cwd=ROOT, capture_output=True, check=True, timeout=7200
    )
    built: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return built


def catalog_slugs(tools: int) -> list[str]:
    """Every tool of the catalog ledger: the demo six, then scripts/bench/lists.py's."""
    return SLUGS + [f"tool-{n:05d}" for n in range(tools - len(SLUGS))]


@contextmanager
def copy_of(backend: Backend, built: dict[str, Any]) -> Iterator[str]:
    """A scratch copy of the cached catalog ledger (the votes measured land in it), removed
    afterwards: a file copy on SQLite, CREATE DATABASE ... TEMPLATE on PostgreSQL."""
    if backend.name == "sqlite":
        with backend.database("catalog", file=Path(built["path"])) as url:
            yield url
    else:
        with backend.database("catalog", template=built["database"]) as url:
            yield url


@contextmanager
def start(
    backend: Backend, service: str, load: Load, built: dict[str, Any]
) -> Iterator[tuple[Server, list[tuple[str, str]], str | None]]:
    """One service with the voter tokens its load will use, and its database URL (None for
    the ceiling)."""
    if service == "ceiling":
        secret = secrets.token_bytes(32)
        credentials = MemoryCredentials(secret)
        voters = [credentials.register_voter() for _ in range(load.voters_needed())]
        env = {
            SECRET_ENV: secret.hex(),
            "VERDICT_VOTES_PER_MINUTE": UNLIMITED,
            "VERDICT_VOTER_REGISTRATIONS_PER_MINUTE": UNLIMITED,
        }
        command = Command([PYTHON, str(BENCH / "ceiling.py")], env)
        with serve(service, command, backend.run_dir) as server:
            yield server, voters, None
        return
    with ExitStack() as stack:
        if service == "demo":
            url = stack.enter_context(backend.database("demo"))
        else:
            url = stack.enter_context(copy_of(backend, built))
        voters = mint_voters(url, load.voters_needed())
        command = ledger_command(url, group_commit=True, workers=backend.workers)
        server = stack.enter_context(serve(service, command, backend.run_dir))
        yield server, voters, url


def measure_catalog_size(
    backend: Backend, load: Load, rounds: int, tools: int, events: int, cache: Path
) -> dict[str, Any]:
    """Votes/s, read latency under load and the list answers on the demo and the catalog
    ledger, and the ceiling's votes/s, in interleaved slices; their ratios."""
    built = build(backend, tools, events, cache)
    piece = Load(load.concurrency, load.warmup, load.duration / rounds)
    whole = Load(load.concurrency, load.warmup * rounds, load.duration)
    everything = catalog_slugs(tools)
    slugs = {"ceiling": SLUGS, "demo": SLUGS, "catalog": everything}
    slices: dict[str, list[dict[str, Any]]] = {s: [] for s in SERVICES}
    figures: dict[str, Any] = {
        "build": built,
        "tools": {"demo": len(SLUGS), "catalog": tools},
        "concurrency": load.concurrency,
    }
    with ExitStack() as stack:
        services = {s: stack.enter_context(start(backend, s, whole, built)) for s in SERVICES}
        for r in range(rounds):
            turn = r % len(SERVICES)
            for service in SERVICES[turn:] + SERVICES[:turn]:
                server, voters, _ = services[service]
                slices[service].append(
                    run_load(
                        server, voters[r::rounds], piece, backend.run_dir, slugs=slugs[service]
                    )
                )
        for service in SERVICES:
            figures[service] = combine(slices[service], load.duration)
        for service in ("demo", "catalog"):
            server, _, url = services[service]
            assert url is not None
            end = _log_size(url)
            figures[service]["events"] = end
            caught_up(server.port, end)
            figures[service]["reads"] = {
                row["path"]: row
                for row in measure(server.port, READ_PATHS, READ_REQUESTS, READ_ROUNDS)
            }
    rate = {s: figures[s]["votes_per_s"] for s in SERVICES}
    counts = {s: [x["voters"]["ok"] for x in slices[s]] for s in SERVICES}
    figures["ratios"] = {
        "catalog_vs_demo": rate["catalog"] / rate["demo"],
        "demo_vs_ceiling": rate["demo"] / rate["ceiling"],
        "catalog_vs_ceiling": rate["catalog"] / rate["ceiling"],
        "per_round_catalog_vs_demo": _per_round(counts["catalog"], counts["demo"]),
        "per_round_demo_vs_ceiling": _per_round(counts["demo"], counts["ceiling"]),
    }
    return figures


def _per_round(counts: list[int], others: list[int]) -> list[float | None]:
    return [a / b if b else None for a, b in zip(counts, others, strict=True)]


def _log_size(url: str) -> int:
    """How many events the ledger at `url` holds now (the load is over)."""
    ledger = Ledger(Settings(database_url=url, group_commit=False, create_tables=False))
    try:
        return int(ledger.recorder.max_notification_id() or 0)
    finally:
        ledger.close()


# -- report -----------------------------------------------------------------------------------


def checks(section: dict[str, Any]) -> dict[str, bool]:
    """Whether this run met each of issue 17's targets, per backend."""
    found: dict[str, bool] = {}
    for backend, figures in section.items():
        ratios = figures["ratios"]
        found[f"catalog_vs_demo_{backend}"] = (
            ratios["catalog_vs_demo"] >= TARGETS["catalog_vs_demo"]
        )
        p99 = figures["catalog"]["read_latency_ms"]["p99"]
        found[f"catalog_read_p99_{backend}"] = p99 is not None and p99 <= TARGETS["read_p99_ms"]
        reads = figures["catalog"]["reads"]
        home = reads["/"]
        found[f"catalog_home_{backend}"] = (
            home["bytes"] <= TARGETS["home_bytes"] and home["p50_ms"] <= TARGETS["home_p50_ms"]
        )
        found[f"catalog_lists_{backend}"] = all(
            row["bytes"] <= TARGETS["list_bytes"] for row in reads.values()
        )
        target = TARGETS.get(f"demo_vs_ceiling_{backend}")
        if target is not None:
            found[f"demo_vs_ceiling_{backend}"] = ratios["demo_vs_ceiling"] >= target
    return found


def lines(section: dict[str, Any], checked: dict[str, bool]) -> list[str]:
    """The section's rows, one block per backend."""
    out: list[str] = []
    for backend, figures in section.items():
        demo, catalog = figures["demo"], figures["catalog"]
        ratios = figures["ratios"]
        out += [
            "",
            f"catalog size ({backend}): demo {figures['tools']['demo']} tools, "
            f"{demo.get('events', 0):,} events vs catalog {figures['tools']['catalog']:,} tools, "
            f"{catalog.get('events', 0):,} events",
            f"  {'':36}{'6 tools':>18}{'catalog':>18}{'ratio':>9}",
            f"  {'durable votes/s, ' + str(figures.get('concurrency', 64)) + ' voters':36}"
            f"{demo['votes_per_s']:>18,.0f}{catalog['votes_per_s']:>18,.0f}"
            f"{ratios['catalog_vs_demo']:>8.2f}x   target ≥{TARGETS['catalog_vs_demo']:g}x "
            f"{_mark(checked.get(f'catalog_vs_demo_{backend}'))}",
            f"  {'  range over slices':36}{'':36}{_span(ratios['per_round_catalog_vs_demo']):>9}",
            f"  {'GET /v1/tools/{slug} p99 under votes':36}"
            f"{_ms(demo['read_latency_ms']['p99']):>18}{_ms(catalog['read_latency_ms']['p99']):>18}"
            f"{'':9}   target ≤{TARGETS['read_p99_ms']:g} ms "
            f"{_mark(checked.get(f'catalog_read_p99_{backend}'))}",
        ]
        for path in READ_PATHS:
            small, large = demo["reads"][path], catalog["reads"][path]
            goal = f"≤{TARGETS['list_bytes'] // 1000} KB"
            mark = ""
            if path == "/":
                goal = f"≤{TARGETS['home_bytes'] // 1000} KB, p50 ≤{TARGETS['home_p50_ms']:g} ms"
                mark = _mark(checked.get(f"catalog_home_{backend}"))
            out.append(
                f"  {'GET ' + path + ' p50, size':36}{_read(small):>18}{_read(large):>18}"
                f"{'':9}   target {goal} {mark}"
            )
        out.append(
            f"  {'lists ≤ 200 KB on the catalog':36}{'':36}{'':9}   "
            f"{_mark(checked.get(f'catalog_lists_{backend}'))}"
        )
        ceiling = figures["ceiling"]["votes_per_s"]
        target = TARGETS.get(f"demo_vs_ceiling_{backend}")
        goal = (
            f"   target ≥{target:g}x {_mark(checked.get(f'demo_vs_ceiling_{backend}'))}"
            if target is not None
            else ""
        )
        out += [
            f"  {'no-database ceiling, votes/s':36}{ceiling:>18,.0f}",
            f"  {'ledger ÷ ceiling':36}{ratios['demo_vs_ceiling']:>17.2f}x"
            f"{ratios['catalog_vs_ceiling']:>17.2f}x{'':9}{goal}",
            f"  {'  range over slices (6 tools)':36}"
            f"{_span(ratios['per_round_demo_vs_ceiling']):>18}",
        ]
    return out


def _mark(ok: bool | None) -> str:
    return "" if ok is None else ("PASS" if ok else "MISS")


def _span(values: list[float | None]) -> str:
    found = [v for v in values if v is not None]
    return f"{min(found):.2f}-{max(found):.2f}" if found else "—"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} ms"


def _read(row: dict[str, Any]) -> str:
    size = row["bytes"]
    shown = f"{size / 1000:.1f} KB" if size < 1_000_000 else f"{size / 1e6:.2f} MB"
    return f"{row['p50_ms']:.1f} ms {shown}"
