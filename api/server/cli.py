"""The `verdict` command: serve, project, seed, rebuild, migrate, export, copy, backup, keys; all
honour VERDICT_DATABASE_URL and the other VERDICT_* settings. And witness, which needs no ledger."""

from __future__ import annotations

import argparse
import errno
import os
import secrets
import shutil
import socket
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from eventsourcing.persistence import OperationalError
from pydantic import ValidationError

from api.bootstrap import PROJECTIONS, Runtime, open_runtime
from api.series import MULTIPROC_ENV
from api.server.copying import BATCH, CopyRefused, copy_ledger
from api.server.logs import configure_logging, log_config
from api.server.processes import run_projection
from api.server.rebuilding import default_jobs, rebuild_views
from api.voting.credentials import KEY_ROLES
from domain.errors import LedgerError
from domain.settings import DEFAULT_SQLITE_FOLDER, Projections, Settings
from projections.audit.log import CheckpointMismatch
from projections.audit.signed_note import parse_verifier_key, valid_key_name
from projections.following.follower import Follower


class UserError(Exception):
    """An ordinary mistake (a path, a setting, a database that is not there): `main` prints it as
    one line and exits 1. Tracebacks are for bugs."""


def _open(settings: Settings) -> Runtime:
    """The runtime, once the PostgreSQL database answers: if it does not, the user learns which
    database on which server, and the server's own reason, at once (the connection pool would
    say only "couldn't get a connection after 5.00 sec")."""
    folder = settings.sqlite_path.parent
    if not settings.is_postgres and folder != DEFAULT_SQLITE_FOLDER and not folder.is_dir():
        raise UserError(
            f"the folder {folder} of VERDICT_DATABASE_URL does not exist (a typo?); create it "
            "first to start a new ledger there"
        )
    if settings.is_postgres:
        import psycopg

        env = settings.eventsourcing_env()
        name, host, port = env["POSTGRES_DBNAME"], env["POSTGRES_HOST"], env["POSTGRES_PORT"]
        try:
            psycopg.connect(
                dbname=name,
                host=host,
                port=port,
                user=env["POSTGRES_USER"],
                password=env["POSTGRES_PASSWORD"],
                connect_timeout=5,
            ).close()
        except psycopg.OperationalError as error:
            reason = " ".join(str(error).split())
            raise UserError(
                f"cannot open the PostgreSQL database {name!r} at {host}:{port}: {reason}"
            ) from None
    return open_runtime(settings)


def _settings_problem(error: ValidationError) -> str:
    """The settings' errors in one line, each naming its VERDICT_* variable."""
    problems = []
    for found in error.errors():
        message = str(found["msg"]).removeprefix("Value error, ")
        if not message.startswith("VERDICT_"):
            field = ".".join(str(part) for part in found["loc"])
            message = f"VERDICT_{field.upper()}: {message}"
        problems.append(message)
    return "; ".join(problems)


def _check_port(host: str, port: int) -> None:
    """Refuse, before anything is made or printed, a port this process cannot listen on (bound
    the way uvicorn binds it; the socket is closed again for uvicorn to take)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise UserError(
                    f"{host}:{port} is taken by another process; choose another port with "
                    f"--port N (e.g. --port {port + 1})"
                ) from None
            raise UserError(f"cannot listen on {host}:{port}: {error.strerror}") from None


def server_options(host: str, port: int, settings: Settings) -> dict[str, Any]:
    """uvicorn's options for `verdict serve` (scripts/bench/ceiling.py serves with them too)."""
    from api.server.http_protocol import BoundedHttpToolsProtocol  # uvicorn: serving only

    return {
        "host": host,
        "port": port,
        "log_config": log_config(settings),
        "access_log": False,  # api/logs.AccessLog writes one JSON line per request instead
        "http": BoundedHttpToolsProtocol,  # httptools, with h11's 16 KiB bound on a head
        # The client's address is api/middleware/forwarded.py's call (VERDICT_TRUSTED_PROXIES):
        # uvicorn's would believe any X-Forwarded-For string from 127.0.0.1.
        "proxy_headers": False,
        "timeout_keep_alive": settings.idle_timeout_seconds,  # heads and bodies: http_protocol
    }


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from api.app import create_app  # the web stack: `verdict project` children never load it

    where = settings.where_projections_run(serve_workers=args.workers)
    if where is Projections.CHILDREN and args.workers > 1:
        print(
            "VERDICT_PROJECTIONS=children takes one worker; with --workers N, set threads or "
            "external (docs/deploy.md)",
            file=sys.stderr,
        )
        return 2
    from domain.seeding import seed_demo

    _check_port(args.host, args.port)
    configure_logging(settings)
    runtime = _open(settings)
    try:
        if not args.no_demo and not runtime.ledger.recorder.max_notification_id():
            seed_demo(runtime.ledger)
            events = runtime.ledger.recorder.max_notification_id() or 0
            location = (
                settings.sqlite_path.resolve()
                if not settings.is_postgres
                else f"database {settings.eventsourcing_env()['POSTGRES_DBNAME']!r}"
            )
            print(
                f"first start: created a new ledger at {location} and loaded the demo data "
                f"({events} events)"
            )
            key = runtime.credentials.create_key(f"editor-{secrets.token_hex(3)}")
            print(f"editor key (shown once; revoke with `verdict keys revoke`):\n{key}")
    finally:
        runtime.close()
    url = f"http://{args.host}:{args.port}"
    print(f"Verdict Ledger is serving at {url}  (API docs: {url}/docs)", flush=True)
    options = server_options(args.host, args.port, settings)
    if args.workers == 1:
        uvicorn.run(create_app(settings.model_copy(update={"projections": where})), **options)
        return 0
    os.environ["VERDICT_PROJECTIONS"] = where  # what each worker's Settings() reads
    if where is Projections.EXTERNAL:
        names = " and ".join(f"`verdict project {name}`" for name in PROJECTIONS)
        print(f"the workers leave the projections to {names}", flush=True)
    metrics_dir = None
    if not os.environ.get(MULTIPROC_ENV):
        metrics_dir = tempfile.mkdtemp(prefix="verdict-metrics-")
        os.environ[MULTIPROC_ENV] = metrics_dir
    try:
        uvicorn.run("api.app:from_environment", factory=True, workers=args.workers, **options)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _project(args: argparse.Namespace, settings: Settings) -> int:
    configure_logging(settings)
    return run_projection(settings, args.name, args.parent)


def _seed(_: argparse.Namespace, settings: Settings) -> int:
    from domain.seeding import seed_demo

    runtime = _open(settings)
    try:
        written = seed_demo(runtime.ledger)
    finally:
        runtime.close()
    print(f"demo data: {written} writes" if written else "demo data: already complete")
    return 0


def _progress(total: int, unit: str) -> Any:
    """A progress bar on stderr for long logs (silent when stderr is not a terminal)."""
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, unit_scale=True, disable=None, file=sys.stderr)


def _rebuild(args: argparse.Namespace, settings: Settings) -> int:
    """Safe on a live service: the new views are built beside the serving ones, checked
    against every stored checkpoint, and switched to in one transaction."""
    runtime = _open(settings)
    try:
        total = runtime.ledger.recorder.max_notification_id() or 0
        with _progress(total, "event") as bar:
            rebuilt = rebuild_views(runtime, jobs=args.jobs, progress=bar.update)
    except CheckpointMismatch as error:
        print(f"CHECKPOINT MISMATCH: {error}; the serving views are untouched")
        return 1
    finally:
        runtime.close()
    for done in rebuilt:
        print(
            f"rebuilt {done.name} at log position {done.position} in {done.seconds:.1f} s "
            f"(old tables dropped in {done.sweep_seconds:.1f} s)"
        )
    return 0


def _export(args: argparse.Namespace, settings: Settings) -> int:
    """The events up to the latest checkpoint, after a header naming it (docs/audit.md)."""
    from projections.audit.export import EXPORT_FORMAT, export_lines

    runtime = _open(settings)
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
        with _export_file(args.file) as out, _progress(size, "event") as bar:
            out.write(orjson.dumps(header) + b"\n")
            for line in export_lines(runtime.ledger.recorder, runtime.audit, 0, size):
                out.write(line)
                bar.update(1)
    finally:
        runtime.close()
    print(f"exported {size} events to {args.file}")
    return 0


def _copy(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 2 on a refusal (nothing written), 1 when a copied checkpoint does not match."""
    try:
        to = Settings.model_validate({**settings.model_dump(), "database_url": args.to})
    except ValidationError:
        print("verdict copy: --to must start with sqlite:/// or postgresql://", file=sys.stderr)
        return 2
    bars: list[Any] = []

    def bar(name: str, total: int, initial: int = 0) -> Any:
        bars.append(_progress(total, "event"))
        bars[-1].set_description(name)
        bars[-1].update(initial)
        return bars[-1].update

    try:
        copied = copy_ledger(
            settings,
            to,
            batch=args.batch,
            check_bar=lambda held: bar("check what the target holds", held),
            events_bar=lambda total, held: bar("copy events", total, held),
            rebuild_bar=lambda total: bar("rebuild the views", total),
        )
    except CopyRefused as refused:
        print(f"verdict copy: refused: {refused}", file=sys.stderr)
        return 2
    except OperationalError as unreachable:
        print(
            f"verdict copy: a store did not answer (check VERDICT_DATABASE_URL and --to): "
            f"{unreachable}",
            file=sys.stderr,
        )
        return 2
    finally:
        for each in bars:
            each.close()
    print(
        f"copied {copied.copied} events ({copied.held} were there already), "
        f"{copied.checkpoints} checkpoints; views rebuilt at log position {copied.position}"
    )
    for size in copied.mismatched:
        print(f"CHECKPOINT MISMATCH: the events no longer give the signed tree of size {size}")
    return 1 if copied.mismatched else 0


def _backup(args: argparse.Namespace, settings: Settings) -> int:
    if settings.is_postgres:
        print(
            "verdict backup: a PostgreSQL ledger is backed up with pg_dump "
            '(docs/deploy.md, "Backups")',
            file=sys.stderr,
        )
        return 2
    from api.server.backup import BackupRefused, backup_sqlite

    try:
        done = backup_sqlite(settings.sqlite_path, Path(args.file))
    except BackupRefused as refused:
        print(f"verdict backup: refused: {refused}", file=sys.stderr)
        return 2
    print(
        f"backed up {done.pages} pages to {args.file} in {done.seconds:.2f} s: events up to "
        f"log position {done.position}, latest checkpoint of size {done.checkpoint}"
    )
    return 0


def _export_file(path: str) -> BinaryIO:
    try:
        return open(path, "wb")  # the caller's `with` closes it
    except OSError as error:
        raise UserError(f"cannot write the export to {path}: {error.strerror}") from None


def _keys_create(args: argparse.Namespace, settings: Settings) -> int:
    runtime = _open(settings)
    try:
        key = runtime.credentials.create_key(args.name, args.role)
    finally:
        runtime.close()
    print(f"created {args.role} key {args.name!r}; it is shown once, only its hash is kept:")
    print(key)
    return 0


def _keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    runtime = _open(settings)
    try:
        revoked = runtime.credentials.revoke_key(args.name)
    finally:
        runtime.close()
    print(f"revoked key {args.name!r}" if revoked else f"no active key named {args.name!r}")
    return 0 if revoked else 1


def _keys_list(_: argparse.Namespace, settings: Settings) -> int:
    runtime = _open(settings)
    try:
        keys = runtime.credentials.list_keys()
    finally:
        runtime.close()
    rows = [("name", "role", "created", "revoked")]
    rows += [(k.name, k.role, k.created_at, k.revoked_at or "-") for k in keys]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[3]]))
    return 0


def _migrate(_: argparse.Namespace, settings: Settings) -> int:
    runtime = _open(settings.model_copy(update={"create_tables": True}))
    runtime.close()
    print("schema is up to date")
    return 0


def _witness(args: argparse.Namespace, _: Settings) -> int:
    """A C2SP tlog-witness for the logs of `--log`; its key lives in its own state file."""
    import uvicorn
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from api.server.http_protocol import BoundedHttpToolsProtocol
    from api.witness.server import create_witness_app
    from api.witness.state import WitnessState
    from api.witness.witness import Witness
    from projections.audit.cosignature import Cosigner

    state = WitnessState(args.state)
    cosigner = Cosigner(args.name, Ed25519PrivateKey.from_private_bytes(state.private_key()))
    witness = Witness(cosigner, args.log, state)
    host, port = args.listen
    print(cosigner.verifier_key, flush=True)  # the first line: what logs and auditors pin
    print(f"witnessing {', '.join(witness.origins)} at http://{host}:{port}/add-checkpoint")
    print(f"state: {state.path}", flush=True)
    options: dict[str, Any] = {"host": host, "port": port, "http": BoundedHttpToolsProtocol}
    uvicorn.run(create_witness_app(witness), access_log=False, **options)
    return 0


def _listen(text: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host.removeprefix("[").removesuffix("]"), int(port)


def _key_name(text: str) -> str:
    if not valid_key_name(text):
        raise argparse.ArgumentTypeError(f"{text!r}: a key name has no spaces and no '+'")
    return text


def _log_key(text: str) -> str:
    try:
        parse_verifier_key(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="verdict", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="run the HTTP service (seeds demo data on first start)"
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--no-demo",
        action="store_true",
        help="an empty log stays empty (no demo data, no editor key printed)",
    )
    serve.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="worker processes (PostgreSQL; with N > 1 run `verdict project` for each view)",
    )
    serve.set_defaults(run=_serve)
    project = commands.add_parser(
        "project",
        help="follow one projection in the foreground until SIGTERM (one process per view)",
    )
    project.add_argument("name", choices=PROJECTIONS)
    project.add_argument(
        "--parent",
        type=int,
        metavar="PID",
        help="exit once process PID is no longer the parent (`verdict serve` passes its own)",
    )
    project.set_defaults(run=_project)
    commands.add_parser("seed", help="load the demo data (idempotent)").set_defaults(run=_seed)
    rebuild = commands.add_parser(
        "rebuild",
        help="rebuild every view from zero beside the serving ones, then switch (safe while "
        "serving; resumes if interrupted)",
    )
    rebuild.add_argument(
        "--jobs",
        type=_positive,
        default=default_jobs(),
        help="processes, one projection each (default 1: one process reads the log once for "
        "all; 2 is faster only with a core to spare)",
    )
    rebuild.set_defaults(run=_rebuild)
    commands.add_parser("migrate", help="create the schema once").set_defaults(run=_migrate)
    export = commands.add_parser("export", help="write the events and latest checkpoint (NDJSON)")
    export.add_argument("file")
    export.set_defaults(run=_export)
    copy = commands.add_parser(
        "copy",
        help="copy this ledger into another store (SQLite <-> PostgreSQL); resumable",
    )
    copy.add_argument("--to", required=True, metavar="URL", help="sqlite:///… or postgresql://…")
    copy.add_argument("--batch", type=_positive, default=BATCH, help="events per transaction")
    copy.set_defaults(run=_copy)
    backup = commands.add_parser(
        "backup", help="a consistent copy of a serving SQLite ledger into a new FILE"
    )
    backup.add_argument("file")
    backup.set_defaults(run=_backup)
    keys = commands.add_parser("keys", help="editor and moderator keys").add_subparsers(
        dest="keys", required=True
    )
    create = keys.add_parser("create", help="create a key; prints it once, on the last line")
    create.add_argument("--role", choices=list(KEY_ROLES), default="editor")
    create.add_argument("--name", required=True)
    create.set_defaults(run=_keys_create)
    revoke = keys.add_parser("revoke", help="revoke a key by name")
    revoke.add_argument("name")
    revoke.set_defaults(run=_keys_revoke)
    witness = commands.add_parser(
        "witness",
        help="cosign the checkpoints of the --log keys' logs (C2SP tlog-witness); needs no "
        "ledger, prints its verifier key first",
    )
    witness.add_argument("--listen", type=_listen, required=True, metavar="HOST:PORT")
    witness.add_argument(
        "--name", type=_key_name, required=True, help="the witness's key name, e.g. a URL"
    )
    witness.add_argument(
        "--log",
        type=_log_key,
        action="append",
        required=True,
        metavar="VERIFIER_KEY",
        help="a log's note verifier key; its name is the log's origin (repeatable)",
    )
    witness.add_argument(
        "--state",
        default=os.path.join("var", "witness.db"),
        help="the witness's SQLite file: its key and what it cosigned (default var/witness.db)",
    )
    witness.set_defaults(run=_witness)
    listing = keys.add_parser("list", help="every key: name, role, created, revoked")
    listing.set_defaults(run=_keys_list)
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        print(f"verdict: {_settings_problem(error)}", file=sys.stderr)
        return 1
    try:
        return int(args.run(args, settings))
    except LedgerError as error:
        print(f"verdict: {error.detail}", file=sys.stderr)
        return 1
    except UserError as error:
        print(f"verdict: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
