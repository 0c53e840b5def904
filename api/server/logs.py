"""Structured logs: one JSON object per line on stderr, with secrets scrubbed on the way out.

Nothing here logs headers or bodies, but a secret can still reach a log through an exception
message or a library's own logging (a connection URL with its password, a token in a query
string). So the formatter, which every record passes through, redacts anything shaped like a
credential: bearer tokens, editor keys, console sessions, voter tokens, passwords in URLs and
our cookies."""

from __future__ import annotations

import copy
import logging
import logging.config
import logging.handlers
import queue
import re
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.types import Scope

from api.middleware.observed import ObservedRequests
from domain.settings import Settings

REDACTED = "[redacted]"
_SECRETS = [
    (re.compile(r"(?i)\b(bearer|basic)\s+[^\s\"',;]+"), rf"\1 {REDACTED}"),
    (
        re.compile(
            r"(?i)(authorization|cookie|token|key|password|secret)([\"']?\s*[:=]\s*[\"']?)"
            r"[^\s\"',;&]+"
        ),
        rf"\1\2{REDACTED}",
    ),
    (re.compile(r"\bvle_[A-Za-z0-9_-]+"), f"vle_{REDACTED}"),
    (re.compile(r"\bvls_[A-Za-z0-9_-]+"), f"vls_{REDACTED}"),  # editor console sessions
    (re.compile(r"\b(v_[A-Za-z0-9]+)\.[A-Za-z0-9_-]+"), rf"\1.{REDACTED}"),
    (re.compile(r"([a-z][a-z0-9+.-]*://[^:/@\s\"']+):[^@\s\"']+@"), rf"\1:{REDACTED}@"),
    (re.compile(r"(__Host-verdict-[a-z]+=)[^;\s\"']+"), rf"\1{REDACTED}"),
]
_SUSPECT = re.compile(
    r"(?i)bearer|basic|authorization|cookie|token|key|password|secret|vle_|vls_|v_|://|__host-"
)
"""Something each pattern above needs to match: text without any of it has nothing to scrub
(most log lines, e.g. every access-log line of a vote), so it skips the six substitutions."""
# Attributes every LogRecord has; anything else was passed as `extra` and is logged as a field.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's coloured duplicate of the message
    "taskName",
}


_CLEAN: dict[str, None] = {}
"""Short texts found to hold nothing to scrub (an access log repeats the same few methods,
paths and addresses). Only clean texts are kept, so no secret is ever kept here."""
_CLEAN_MAX = 4096


def redact(text: str) -> str:
    """`text` with every credential-shaped substring replaced."""
    if text in _CLEAN:
        return text
    scrubbed = text
    if _SUSPECT.search(text) is not None:
        for pattern, replacement in _SECRETS:
            scrubbed = pattern.sub(replacement, scrubbed)
    if scrubbed == text and len(text) <= 256:
        if len(_CLEAN) >= _CLEAN_MAX:
            _CLEAN.clear()
        _CLEAN[text] = None
    return scrubbed


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "pid", "msg", ...extra fields, "exc"?}`, redacted, one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "msg": redact(record.getMessage()),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and name not in entry:
                entry[name] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exc"] = redact(record.exc_text)
        return orjson.dumps(entry, default=lambda v: redact(str(v))).decode()


class BackgroundHandler(logging.handlers.QueueHandler):
    """Hands each record to a thread that formats and writes it with `handler`, in order. The
    thread that logs — the event loop, for the access log — never waits on stderr: a write
    releases the GIL, and taking it back can cost a switch interval while the vote writer runs;
    and the JSON formatting leaves the event loop too. The thread wakes at most every
    BATCH_SECONDS and writes what gathered meanwhile in one write, since waking it for each
    line cost the event loop a GIL hand-over per request (docs/performance.md). What is queued
    is written when the handler closes (`logging.shutdown` at exit); a `kill -9` loses at most
    the lines of the last moments, never an event."""

    def __init__(self, handler: logging.StreamHandler[Any]) -> None:
        self.records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        super().__init__(self.records)
        self.handler = handler
        self._writer: threading.Thread | None = threading.Thread(
            target=self._write, name="log-writer", daemon=True
        )
        self._writer.start()

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        """The record as it is now (its arguments merged into the message, since they may
        change later), exception and fields kept for the JSON formatter."""
        record = copy.copy(record)
        record.msg = record.getMessage()
        record.args = None
        return record

    def _write(self) -> None:
        while True:
            batch = [self.records.get()]
            time.sleep(BATCH_SECONDS)  # let the lines of a burst gather
            while True:
                try:
                    batch.append(self.records.get_nowait())
                except queue.Empty:
                    break
            level = self.handler.level  # as QueueListener(respect_handler_level=True) did
            lines = [
                self.handler.format(r) + "\n"
                for r in batch
                if r is not _CLOSE and r.levelno >= level
            ]
            if lines:
                try:
                    self.handler.stream.write("".join(lines))
                    self.handler.flush()
                except (OSError, ValueError):  # stderr closed or gone: nowhere left to say it
                    pass
            if _CLOSE in batch:
                return

    def close(self) -> None:
        if self._writer is not None:  # once: logging.shutdown closes it again at exit
            self.records.put_nowait(_CLOSE)
            self._writer.join()
            self._writer = None
            self.handler.close()
        super().close()


BATCH_SECONDS = 0.02
_CLOSE: Any = object()
"""Put on the queue by `close`: the writer writes what came before it, then stops."""


def background_stderr() -> logging.Handler:
    """JSON lines on stderr, written by a background thread (the `stderr` handler)."""
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(JsonFormatter())
    return BackgroundHandler(stderr)


def log_config(settings: Settings) -> dict[str, Any]:
    """A `logging.config.dictConfig` for the `verdict` loggers, uvicorn's and the root: JSON on
    stderr. uvicorn applies it in each worker process too (`log_config=`)."""
    level = settings.log_level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "api.server.logs.JsonFormatter"}},
        "handlers": {"stderr": {"()": "api.server.logs.background_stderr"}},
        "root": {"handlers": ["stderr"], "level": "WARNING"},
        "loggers": {
            "verdict": {"level": level},
            "projections": {"level": level},
            "api": {"level": level},
            "uvicorn": {"level": "WARNING", "handlers": [], "propagate": True},
            "uvicorn.error": {"level": "WARNING", "handlers": [], "propagate": True},
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
        },
    }


def configure_logging(settings: Settings) -> None:
    """JSON logs for this process; uncaught exceptions in threads are logged, not printed.
    Records skip what the JSON lines never show (the caller's file and line, thread and
    process names): the logging HOWTO's "Optimization" switches (docs/performance.md)."""
    logging.config.dictConfig(log_config(settings))
    logging._srcfile = None  # documented in the logging HOWTO
    logging.logThreads = False
    logging.logMultiprocessing = False

    def thread_died(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        exc_info = (args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback)
        name = args.thread.name if args.thread else "?"
        logging.getLogger("verdict").error("thread %s died", name, exc_info=exc_info)

    threading.excepthook = thread_died


access_log = logging.getLogger("verdict.access")


class AccessLog(ObservedRequests):
    """One log line per HTTP request: method, path (no query string), status, duration, client.
    Never headers, cookies or bodies: that is where credentials travel."""

    def wanted(self) -> bool:
        return access_log.isEnabledFor(logging.INFO)

    def record(self, scope: Scope, status: int, seconds: float) -> None:
        client = scope.get("client")
        access_log.info(
            "%s %s %d",
            scope["method"],
            scope["path"],
            status,
            extra={
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "client": client[0] if client else None,
            },
        )
