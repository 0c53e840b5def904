"""The interactive API docs at /docs, whole without internet: Swagger UI's script and style come
from the `fastapi-offline` package's files and are served from here, not from a CDN, and the
page starts them from a file of ours, so it needs no inline script under a strict CSP."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from api.site.static_files import VersionedStaticFiles, static_url

ASSETS = Path(fastapi_offline.__file__).parent / "static"
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
    # Swagger UI sets style attributes from its script; its stylesheet is our own origin's.
    "style-src 'self' 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Verdict Ledger API</title>
<link rel="stylesheet" href="{css}">
<link rel="icon" href="{icon}">
</head>
<body>
<main id="swagger-ui" data-openapi="/openapi.json"><noscript>The interactive docs need
JavaScript; the API is described in <a href="/openapi.json">/openapi.json</a> and in
docs/api.md.</noscript></main>
<script src="{bundle}"></script>
<script src="{start}"></script>
</body>
</html>
"""

router = APIRouter(include_in_schema=False)
router.mount("/docs/assets", VersionedStaticFiles(directory=ASSETS), name="docs-assets")


def _asset(name: str) -> str:
    return static_url(name, "/docs/assets", ASSETS)


@router.get("/docs")
def docs() -> HTMLResponse:
    """The page, its files linked by content hash (api/site/static_files.py)."""
    page = PAGE.format(
        css=_asset("swagger-ui.css"),
        icon=_asset("favicon.png"),
        bundle=_asset("swagger-ui-bundle.js"),
        start=static_url("api-docs.js"),
    )
    return HTMLResponse(page, headers={"Content-Security-Policy": DOCS_CSP})
