#!/usr/bin/env python3
"""A/B of the ledger's vote throughput under settings that differ only by environment, measured
the way scripts/bench/bench.py measures (the same service command, load generator and voters), with
the variants interleaved round by round so the machine's noise lands on all of them alike.

    python scripts/bench/ab.py [--backend sqlite|postgres] [--rounds N] NAME=VAR=VALUE,... ...

e.g. `python scripts/bench/ab.py threads=VERDICT_PROJECTIONS=threads children=` compares projections
followed in threads of the API process with `verdict serve`'s default. Prints, per variant,
durable votes/s, server CPU µs per vote and the p99 of reads during the writes, round by round."""

from __future__ import annotations

import argparse
import os
import tempfile
from contextlib import ExitStack
from pathlib import Path
from statistics import mean

import bench


def variant(text: str) -> tuple[str, dict[str, str]]:
    name, _, settings = text.partition("=")
    return name, dict(pair.split("=", 1) for pair in settings.split(",") if pair)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "VERDICT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured per round")
    parser.add_argument("variants", nargs="+", type=variant, metavar="NAME=VAR=VALUE,...")
    args = parser.parse_args()
    piece = bench.Load(64, 1.0, args.seconds)
    whole = bench.Load(64, args.rounds * 1.0, args.rounds * args.seconds)
    rows: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _ in args.variants}
    with tempfile.TemporaryDirectory(prefix="verdict-ab-") as tmp, ExitStack() as stack:
        backend = bench.Backend(args.backend, args.postgres_url, Path(tmp))
        services = {}
        for n, (name, env) in enumerate(args.variants):
            url = stack.enter_context(backend.database(f"ab{n}"))
            command = bench.ledger_command(url, group_commit=True, workers=1)
            command = bench.Command(command.argv, {**command.env, **env}, command.helpers)
            voters = bench.mint_voters(url, whole.voters_needed())
            services[name] = (stack.enter_context(bench.serve(name, command, Path(tmp))), voters)
        for r in range(args.rounds):
            for name, (server, voters) in services.items():
                out = bench.run_load(server, voters[r :: args.rounds], piece, Path(tmp))
                ok = out["voters"]["ok"]
                p99 = out["reader"]["latency_ms"]["p99"] or 0.0
                rows[name].append((ok / args.seconds, out["server_cpu_s"] / ok * 1e6, p99))
    for name, runs in rows.items():
        rates = " ".join(f"{r[0]:6.0f}" for r in runs)
        cpu = " ".join(f"{r[1]:4.0f}" for r in runs)
        p99s = " ".join(f"{r[2]:5.1f}" for r in runs)
        print(
            f"{name:10} votes/s {rates}  mean {mean(r[0] for r in runs):6.0f} | "
            f"µs/vote {cpu} | read p99 ms {p99s}"
        )


if __name__ == "__main__":
    main()
