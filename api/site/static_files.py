"""Static files under names that change with their content: pages link `/static/NAME?v=HASH`
(`static_url`), and that URL is cached for a year as immutable, since a new release with other
bytes links another one. The bare name, or a stale hash, is revalidated every time instead, so a
page cached from an older release still finds a file, and never keeps an old one for a year."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from starlette.datastructures import QueryParams
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from api.middleware.representation import IMMUTABLE, LIVE

FOLDER = Path(__file__).parent / "static"


@cache
def version(name: str, folder: Path = FOLDER) -> str:
    """The first 12 hex digits of the file's SHA-256 (read once per process: the package's
    files change only with a release, which restarts the service)."""
    return hashlib.sha256((folder / name).read_bytes()).hexdigest()[:12]


def static_url(name: str, prefix: str = "/static", folder: Path = FOLDER) -> str:
    return f"{prefix}/{name}?v={version(name, folder)}"


class VersionedStaticFiles(StaticFiles):
    """StaticFiles whose answers say how long to keep them: a year for the current `?v=`."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            folder = Path(str(self.directory))
            wanted = QueryParams(scope.get("query_string", b"")).get("v")
            current = (folder / path).is_file() and wanted == version(path, folder)
            response.headers["Cache-Control"] = IMMUTABLE if current else LIVE
        return response
