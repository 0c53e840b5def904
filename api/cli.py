"""The `verdict` command: serve, seed, rebuild, migrate, keys; all honour VERDICT_DATABASE_URL."""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Sequence

from api.bootstrap import open_runtime
from domain.seeding import seed_demo
from domain.settings import Settings
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


def _rebuild(_: argparse.Namespace, settings: Settings) -> int:
    runtime = open_runtime(settings)
    try:
        for projection in runtime.projections():
            position = rebuild(runtime.ledger.recorder, projection)
            print(f"rebuilt {projection.name} at log position {position}")
    finally:
        runtime.close()
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
