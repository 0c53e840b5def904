#!/usr/bin/env python3
"""The load generator of scripts/bench/bench.py, run as its own process: many concurrent voters, or
one paced reader, over keep-alive HTTP/1.1 to 127.0.0.1.

    python scripts/bench/load.py CONFIG.json RESULT.json

It speaks HTTP/1.1 on bare asyncio streams rather than through httpx: client and server share
two cores, and every microsecond the client spends per request is taken from the server being
measured (this client costs a fraction of httpx's CPU per request). It imports nothing from the
service, so it sees only what any HTTP client sees.

Voters: `concurrency` workers, each with its own connection and its own share of the voter
tokens, so a voter never has two requests in flight; that is what lets the kill -9 check tell
"in flight when the server died" from "lost". Each request either casts a fresh ballot (a voter
and tool not voted on yet, random ship/skip) or, with probability `change_rate`, flips one of
the worker's earlier ballots (a change of mind), so every request writes exactly one event. A voter
votes on every tool named, in random order, or on `tools_per_voter` of them drawn at random
(a catalog of thousands: the same mix of votes, spread over all of it).

Reader: one connection, `GET /v1/tools/{slug}` every `read_interval` seconds, latency from send
to last body byte. It runs in a process of its own so that the voters' event loop, saturated,
does not delay it and inflate what it measures.

Only requests completed inside the window [start + warmup, start + warmup + duration] count.
With `until_disconnect`, the first broken connection ends a worker (the server was killed):
its unanswered request is reported as in flight, every 2xx answer is kept as an acknowledgment."""

from __future__ import annotations

import asyncio
import random
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

CHOICES = ("ship", "skip")


READER_ADDRESS = "127.0.0.2"
"""Loopback, but another address than the voters' 127.0.0.1."""


class ServerGone(Exception):
    """The connection broke: the server closed it, or was killed."""


class Connection:
    """One keep-alive HTTP/1.1 connection: a request, then its whole response, in turn."""

    def __init__(self, host: str, port: int, local: str | None = None) -> None:
        self.host = host
        self.port = port
        self.local = local
        """The address to connect from: a reader is another client than the voters."""
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, token: str = "", body: bytes = b"") -> Any:
        """(status, body bytes); reconnects once if the server had closed an idle connection."""
        head = f"{method} {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
        if token:
            head += f"authorization: Bearer {token}\r\n"
        if body:
            head += f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
        data = head.encode() + b"\r\n" + body
        if self._writer is None:
            await self._connect()
        assert self._reader is not None
        assert self._writer is not None
        try:
            self._writer.write(data)
            header = await self._reader.readuntil(b"\r\n\r\n")
            status = int(header[9:12])
            lower = header.lower()
            at = lower.find(b"content-length:")
            length = int(lower[at + 15 : lower.index(b"\r\n", at)]) if at >= 0 else 0
            return status, await self._reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
            self.close()
            raise ServerGone(str(error)) from error

    async def _connect(self) -> None:
        try:
            self._reader, self._writer = await asyncio.open_connection(
                self.host, self.port, local_addr=(self.local, 0) if self.local else None
            )
        except OSError as error:
            raise ServerGone(str(error)) from error

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


@dataclass
class Window:
    """The measured interval, in time.time() seconds (shared with the other processes)."""

    start: float
    end: float

    def has(self, moment: float) -> bool:
        return self.start <= moment < self.end


@dataclass
class Tally:
    """What one role observed inside the window."""

    ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)

    def record(self, status: int, seconds: float) -> None:
        if 200 <= status < 300:
            self.ok += 1
            self.latencies.append(seconds)
        else:
            self.errors[str(status)] = self.errors.get(str(status), 0) + 1


@dataclass
class Voter:
    voter_id: str
    token: str
    ballots: dict[str, str] = field(default_factory=dict)
    """slug -> the choice last acknowledged."""


@dataclass
class Journal:
    """For the kill -9 check: every acknowledged vote, and the votes left unanswered."""

    acks: list[dict[str, Any]] = field(default_factory=list)
    in_flight: list[dict[str, Any]] = field(default_factory=list)


async def vote_worker(
    config: dict[str, Any],
    voters: list[Voter],
    window: Window,
    tally: Tally,
    journal: Journal | None,
    rng: random.Random,
) -> None:
    """Vote until the window closes (or, with until_disconnect, until the server goes away)."""
    host, port = config["host"], config["port"]
    conn = Connection(host, port)
    slugs = config["slugs"]
    per_voter = min(len(slugs), config.get("tools_per_voter") or len(slugs))
    fresh = [(v, slug) for v in voters for slug in rng.sample(slugs, per_voter)]
    fresh.reverse()
    voted: list[tuple[Voter, str]] = []
    change_rate: float = config["change_rate"]
    while time.time() < window.end:
        if voted and (not fresh or rng.random() < change_rate):
            voter, slug = voted[rng.randrange(len(voted))]
            choice = "skip" if voter.ballots[slug] == "ship" else "ship"
        elif fresh:
            voter, slug = fresh.pop()
            choice = rng.choice(CHOICES)
            voted.append((voter, slug))
        else:
            break
        body = b'{"choice":"' + choice.encode() + b'"}'
        sent = time.perf_counter()
        try:
            status, answer = await conn.request("PUT", f"/v1/tools/{slug}/vote", voter.token, body)
        except ServerGone:
            if not config["until_disconnect"]:
                raise
            if journal is not None:
                journal.in_flight.append({"voter": voter.voter_id, "tool": slug, "choice": choice})
            return
        if window.has(time.time()):
            tally.record(status, time.perf_counter() - sent)
        if 200 <= status < 300:
            voter.ballots[slug] = choice
            if journal is not None:
                journal.acks.append(_ack(voter.voter_id, slug, choice, status, answer))
        elif slug not in voter.ballots:
            voted.remove((voter, slug))
    conn.close()


def _ack(voter_id: str, slug: str, choice: str, status: int, answer: bytes) -> dict[str, Any]:
    receipt = orjson.loads(answer).get("receipt") or {}
    return {
        "voter": voter_id,
        "tool": slug,
        "choice": choice,
        "status": status,
        "position": receipt.get("position"),
        "leaf_hash": receipt.get("leaf_hash"),
    }


async def read_worker(config: dict[str, Any], window: Window, tally: Tally) -> None:
    """GET one tool at a steady pace (not back to back), so latency is the server's, not ours.
    It reads from 127.0.0.2, as another client than the voters: the service makes a client's
    read wait for that client's own newest write (api/own_writes.py), not for everyone's."""
    conn = Connection(config["host"], config["port"], READER_ADDRESS)
    rng = random.Random(config["seed"] + 1)
    interval: float = config["read_interval"]
    while time.time() < window.end:
        slug = rng.choice(config["slugs"])
        sent = time.perf_counter()
        try:
            status, _ = await conn.request("GET", f"/v1/tools/{slug}")
        except ServerGone:
            if config["until_disconnect"]:
                return
            raise
        if window.has(time.time()):
            tally.record(status, time.perf_counter() - sent)
        await asyncio.sleep(max(0.0, interval - (time.perf_counter() - sent)))
    conn.close()


async def run(config: dict[str, Any]) -> dict[str, Any]:
    """Wait for the shared start time, run the role, and summarise the window."""
    start = config["start_at"] + config["warmup"]
    window = Window(start, start + config["duration"])
    await asyncio.sleep(max(0.0, config["start_at"] - time.time()))
    tally = Tally()
    journal = Journal() if config.get("journal") else None
    cpu = _cpu_seconds()
    if config["role"] == "reader":
        await read_worker(config, window, tally)
    else:
        rng = random.Random(config["seed"])
        voters = [Voter(voter_id, token) for voter_id, token in config["tokens"]]
        n = config["concurrency"]
        await asyncio.gather(
            *(
                vote_worker(
                    config, voters[i::n], window, tally, journal, random.Random(rng.random())
                )
                for i in range(n)
            )
        )
    result: dict[str, Any] = {
        "role": config["role"],
        "ok": tally.ok,
        "per_second": tally.ok / config["duration"],
        "errors": tally.errors,
        "latency_ms": percentiles(tally.latencies),
        "latencies_ms": [round(t * 1000, 3) for t in tally.latencies],
        "client_cpu_s": _cpu_seconds() - cpu,
    }
    if journal is not None:
        result["acks"] = journal.acks
        result["in_flight"] = journal.in_flight
    return result


def percentiles(seconds: list[float]) -> dict[str, float | None]:
    """p50/p99/max in milliseconds (nearest rank); None when nothing was measured."""
    if not seconds:
        return {"p50": None, "p99": None, "max": None}
    ordered = sorted(seconds)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {"p50": rank(0.50), "p99": rank(0.99), "max": ordered[-1] * 1000}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str]) -> int:
    config_path, result_path = argv
    config = orjson.loads(Path(config_path).read_bytes())
    result = asyncio.run(run(config))
    Path(result_path).write_bytes(orjson.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
