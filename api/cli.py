"""The `verdict` command: serve, seed, rebuild, migrate, keys; all honour VERDICT_DATABASE_URL."""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Sequence
from typing import Any

import orjson
from tqdm import tqdm

from api.bootstrap import open_runtime
from domain.seeding import seed_demo
from domain.settings import Settings
from projections.export import EXPORT_FORMAT, export_lines
from projections.follower import Follower
from projections.rebuild import rebuild


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from api.app import create_app

    runtime = open_runtime(settings)
    try:
        if not runtime.ledger.recorder.max_notification_id():
            written = seed_demo(runtime.ledger)
            print(f"first start: created the ledger and loaded the demo data ({written} writes)")
            key = runtime.credentials.create_key(f"editor-{secrets.token_hex(3)}")
            print(f"editor key (shown once; revoke with `verdict keys revoke`):\n{key}")
    finally:
        runtime.close()
    url = f"http://{args.host}:{args.port}"
    print(f"Verdict Ledger is serving at {url}  (API docs: {url}/docs)", flush=True)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")
    return 0


def _seed(_: argparse.Namespace, settings: Settings) -> int:
    runtime = open_runtime(settings)
    try:
        written = seed_demo(runtime.ledger)
    finally:
        runtime.close()
    print(f"demo data: {written} writes" if written else "demo data: already complete")
    return 0


def _progress(total: int, unit: str) -> Any:
    """A progress bar on stderr for long logs (silent when stderr is not a terminal)."""
    return tqdm(total=total, unit=unit, unit_scale=True, disable=None, file=sys.stderr)


def _rebuild(_: argparse.Namespace, settings: Settings) -> int:
    runtime = open_runtime(settings)
    try:
        total = runtime.ledger.recorder.max_notification_id() or 0
        for projection in runtime.projections():
            with _progress(total, "event") as bar:
                position = rebuild(runtime.ledger.recorder, projection, progress=bar.update)
            print(f"rebuilt {projection.name} at log position {position}")
        bad = runtime.audit.mismatched_checkpoints()
    finally:
        runtime.close()
    for checkpoint in bad:
        size = checkpoint.size
        print(f"CHECKPOINT MISMATCH: the events no longer give the signed tree of size {size}")
    return 1 if bad else 0


def _export(args: argparse.Namespace, settings: Settings) -> int:
    """The events up to the latest checkpoint, after a header naming it (docs/audit.md)."""
    runtime = open_runtime(settings)
    try:
        Follower(runtime.ledger.recorder, runtime.audit_projection()).catch_up()
        checkpoint = runtime.audit.latest_checkpoint()
        size = checkpoint.size if checkpoint else 0
        header = {
            "format": EXPORT_FORMAT,
            "origin": settings.log_origin,
            "verifier_key": runtime.signer.verifier_key,
            "checkpoint": checkpoint.note if checkpoint else None,
        }
        with open(args.file, "wb") as out, _progress(size, "event") as bar:
            out.write(orjson.dumps(header) + b"\n")
            for line in export_lines(runtime.ledger.recorder, runtime.audit, 0, size):
                out.write(line)
                bar.update(1)
    finally:
        runtime.close()
    print(f"exported {size} events to {args.file}")
    return 0


def _keys_create(args: argparse.Namespace, settings: Settings) -> int:
    runtime = open_runtime(settings)
    try:
        key = runtime.credentials.create_key(args.name, args.role)
    finally:
        runtime.close()
    print(f"created {args.role} key {args.name!r}; it is shown once, only its hash is kept:")
    print(key)
    return 0


def _keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    runtime = open_runtime(settings)
    try:
        revoked = runtime.credentials.revoke_key(args.name)
    finally:
        runtime.close()
    print(f"revoked key {args.name!r}" if revoked else f"no active key named {args.name!r}")
    return 0 if revoked else 1


def _migrate(_: argparse.Namespace, settings: Settings) -> int:
    runtime = open_runtime(settings.model_copy(update={"create_tables": True}))
    runtime.close()
    print("schema is up to date")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="verdict", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="run the HTTP service (seeds demo data on first start)"
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(run=_serve)
    commands.add_parser("seed", help="load the demo data (idempotent)").set_defaults(run=_seed)
    commands.add_parser("rebuild", help="rebuild every view from zero").set_defaults(run=_rebuild)
    commands.add_parser("migrate", help="create the schema once").set_defaults(run=_migrate)
    export = commands.add_parser("export", help="write the events and latest checkpoint (NDJSON)")
    export.add_argument("file")
    export.set_defaults(run=_export)
    keys = commands.add_parser("keys", help="editor keys").add_subparsers(
        dest="keys", required=True
    )
    create = keys.add_parser("create", help="create a key; prints it once, on the last line")
    create.add_argument("--role", choices=["editor"], default="editor")
    create.add_argument("--name", required=True)
    create.set_defaults(run=_keys_create)
    revoke = keys.add_parser("revoke", help="revoke a key by name")
    revoke.add_argument("name")
    revoke.set_defaults(run=_keys_revoke)
    args = parser.parse_args(argv)
    return int(args.run(args, Settings()))


if __name__ == "__main__":
    sys.exit(main())
