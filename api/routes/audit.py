"""Audit routes: the transparency log's key, checkpoints, proofs and export, and score proofs.
Hashes travel as base64, as in the checkpoints themselves."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import Field
from starlette.responses import Response, StreamingResponse

from api.middleware.representation import pin
from api.problems import RESPONSES
from api.routes.reads import After, MinPosition, json_response, views_at
from api.schemas import MAX_INT
from domain import rules
from domain.errors import InvalidInput, UnknownLeaf, UnknownTool
from projections.audit import merkle
from projections.audit.export import export_lines, export_records
from projections.audit.log import AuditStore, StoredCheckpoint
from projections.audit.tlog_proof import format_tlog_proof
from projections.audit.witness_store import (
    StoredCosignature,
    Witnessed,
    WitnessStore,
    newest_witnessed,
)
from projections.catalog.score_pages import Cursor, score_page
from projections.catalog.score_proof import score_basis
from projections.catalog.views import CATALOG, ViewStore

router = APIRouter(prefix="/v1", responses=RESPONSES)

NDJSON = "application/x-ndjson"
Size = Annotated[
    int | None, Query(ge=0, le=MAX_INT, description="A tree size (default: the latest checkpoint)")
]

LeafIndex = Annotated[int | None, Query(ge=0, le=MAX_INT, description="Leaf index")]
LeafPosition = Annotated[
    int | None, Query(ge=1, le=MAX_INT, description="Or: the event's log position")
]
MAX_LEAVES = 64
"""Leaves one `/audit/leaves` request may name: a score proof's leaves come a page at a time."""
MAX_SCORE_TOOLS = 100
"""Tools one `/audit/scores` page holds at most (it ends sooner at MAX_BALLOTS ballots)."""
LeafIndexes = Annotated[
    list[Annotated[int, Field(ge=0, le=MAX_INT)]],
    Query(
        min_length=1,
        max_length=MAX_LEAVES,
        description=f"Leaf indexes, repeated (`index=3&index=17`), 1 to {MAX_LEAVES}",
    ),
]
TEXT_PLAIN: dict[str, Any] = {
    "response_class": Response,
    "responses": {200: {"content": {"text/plain": {}}}},
}
"""A route that answers text/plain, not JSON."""


def _audit(request: Request) -> AuditStore:
    audit: AuditStore = request.app.state.runtime.audit
    return audit


def _witnessed(request: Request) -> Witnessed:
    """The newest checkpoint that reached the witness quorum (no witnesses: the newest)."""
    runtime = request.app.state.runtime
    store: WitnessStore = runtime.witnessed
    settings = runtime.settings
    keys = [w.verifier_key for w in settings.witnesses]
    found = newest_witnessed(_audit(request), store, keys, settings.quorum)
    if found is None:
        raise UnknownLeaf(
            f"no checkpoint has been cosigned by {settings.quorum} witnesses yet"
            if settings.quorum
            else "the log has no checkpoint yet"
        )
    return found


def _cosignature(c: StoredCosignature) -> dict[str, Any]:
    return {"witness": c.witness, "line": c.line, "cosigned_at": c.cosigned_at}


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _checkpoint(cp: StoredCheckpoint) -> dict[str, Any]:
    return {"size": cp.size, "root": _b64(cp.root), "at": cp.at, "note": cp.note}


def _signed_size(audit: AuditStore, size: int | None, field: str = "size") -> StoredCheckpoint:
    """The checkpoint a proof of tree size `size` is pinned to: the first that covers it."""
    latest = audit.latest_checkpoint()
    if latest is None:
        raise UnknownLeaf("the log has no checkpoint yet")
    if size is None:
        return latest
    covering = audit.checkpoint_covering(size)
    if covering is None:
        raise InvalidInput(field, f"the latest checkpoint has size {latest.size}")
    return covering


@router.get("/audit/public-key", summary="The ledger's checkpoint key (Ed25519)")
def public_key(request: Request) -> Response:
    signer = request.app.state.runtime.signer
    return json_response(
        {
            "algorithm": "Ed25519",
            "key_name": signer.name,
            "public_key": _b64(signer.public_key),
            "verifier_key": signer.verifier_key,
        }
    )


@router.get(
    "/audit/checkpoint",
    summary="The newest checkpoint that reached the witness quorum, with its cosignatures "
    "(C2SP signed note, text/plain)",
    **TEXT_PLAIN,
)
def checkpoint(request: Request) -> Response:
    return Response(_witnessed(request).note, media_type="text/plain; charset=utf-8")


@router.get("/audit/checkpoints", summary="Every signed checkpoint, oldest first")
def checkpoints(
    request: Request,
    after: Annotated[
        int, Query(ge=0, le=MAX_INT, description="Only checkpoints of a larger size")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    audit = _audit(request)
    found = audit.checkpoints(after, limit)
    if _settled(request, audit, found, limit):
        pin(request)
    witnessed: WitnessStore = request.app.state.runtime.witnessed
    cosigned = witnessed.cosignatures([cp.size for cp in found])
    return json_response(
        {
            "checkpoints": [
                {
                    **_checkpoint(cp),
                    "cosignatures": [_cosignature(c) for c in cosigned.get(cp.size, [])],
                }
                for cp in found
            ],
            "next_after": found[-1].size if len(found) == limit else None,
        }
    )


def _settled(request: Request, audit: AuditStore, page: list[StoredCheckpoint], limit: int) -> bool:
    """Whether a page of stored checkpoints is the same for ever: full, followed by a newer
    checkpoint (so it is not the end of the log), and with no witness configured, since a
    witness's cosignature of a checkpoint may be stored after the next one is signed."""
    if len(page) < limit or request.app.state.runtime.settings.witnesses:
        return False
    latest = audit.latest_checkpoint()
    return latest is not None and latest.size > page[-1].size


@router.get("/audit/proofs/inclusion", summary="RFC 9162 inclusion proof of one leaf")
def inclusion(
    request: Request,
    index: LeafIndex = None,
    position: LeafPosition = None,
    size: Size = None,
) -> Response:
    audit = _audit(request)
    index = _leaf_index(audit, index, position)
    pinned = _signed_size(audit, size)
    tree_size = size if size is not None else pinned.size
    if index >= tree_size:
        raise InvalidInput("index", f"must be below the tree size {tree_size}")
    if size is not None:
        pin(request)
    leaf = audit.leaves(index, 1)[0]
    return json_response(
        {
            "leaf_index": index,
            "position": leaf.position,
            "leaf_hash": _b64(leaf.hash),
            "size": tree_size,
            "root": _b64(audit.root(tree_size)),
            "proof": [_b64(h) for h in merkle.inclusion_proof(index, tree_size, audit)],
            "checkpoint": _checkpoint(pinned),
        }
    )


@router.get(
    "/audit/leaves",
    summary="Several leaves at once: each as the export shows it, with its inclusion proof",
)
def leaves(request: Request, index: LeafIndexes, size: Size = None) -> Response:
    """What a browser checking a score proof needs in one request per page of its leaves:
    the event as stored now (to recompute the leaf hash), the hash the log recorded, and the
    audit path to the root of tree size `size` (default: the latest checkpoint)."""
    audit = _audit(request)
    pinned = _signed_size(audit, size)
    tree_size = size if size is not None else pinned.size
    wanted = sorted(set(index))
    if wanted[-1] >= tree_size:
        raise InvalidInput("index", f"{wanted[-1]} is not below the tree size {tree_size}")
    found = audit.leaves_at(wanted)
    records = export_records(request.app.state.runtime.ledger.recorder, found)
    proofs = merkle.inclusion_proofs([leaf.index for leaf in found], tree_size, audit)
    return json_response(
        {
            "size": tree_size,
            "root": _b64(audit.root(tree_size)),
            "checkpoint": _checkpoint(pinned),
            "leaves": [
                {**record, "position": leaf.position, "proof": [_b64(h) for h in proof]}
                for leaf, record, proof in zip(found, records, proofs, strict=True)
            ],
        }
    )


@router.get(
    "/audit/proofs/tlog-proof",
    summary="An offline proof of one leaf (C2SP tlog-proof@v1, text/plain): its index, its "
    "inclusion proof and the newest witnessed checkpoint with its cosignatures",
    **TEXT_PLAIN,
)
def tlog_proof(
    request: Request,
    index: LeafIndex = None,
    position: LeafPosition = None,
) -> Response:
    audit = _audit(request)
    leaf_index = _leaf_index(audit, index, position)
    witnessed = _witnessed(request)
    size = witnessed.checkpoint.size
    if leaf_index >= size:
        field = "index" if index is not None else "position"
        raise InvalidInput(field, f"not in the newest witnessed checkpoint (size {size}) yet")
    proof = merkle.inclusion_proof(leaf_index, size, audit)
    text = format_tlog_proof(leaf_index, proof, witnessed.note)
    return Response(text, media_type="text/plain; charset=utf-8")


def _leaf_index(audit: AuditStore, index: int | None, position: int | None) -> int:
    """The leaf index a request names, by `index` or by log `position` (exactly one)."""
    if (index is None) == (position is None):
        raise InvalidInput("index", "give index or position, exactly one")
    if position is None:
        assert index is not None
        return index
    leaf = audit.leaf_at_position(position)
    if leaf is None:
        raise UnknownLeaf(f"no event at position {position} is in the log yet")
    return leaf.index


@router.get("/audit/witnesses", summary="Each configured witness and what it last said")
def witnesses(request: Request) -> Response:
    runtime = request.app.state.runtime
    store: WitnessStore = runtime.witnessed
    rows = []
    for witness in runtime.settings.witnesses:
        state = store.witness(witness.url, witness.verifier_key)
        refusal = None
        if state.last_refusal_status is not None:
            refusal = {
                "status": state.last_refusal_status,
                "body": state.last_refusal_body,
                "at": state.last_refusal_at,
            }
        rows.append(
            {
                "url": witness.url,
                "verifier_key": witness.verifier_key,
                "last_size": state.last_size,
                "last_at": state.last_at,
                "last_refusal": refusal,
            }
        )
    return json_response({"quorum": runtime.settings.quorum, "witnesses": rows})


@router.get("/audit/proofs/consistency", summary="RFC 9162 consistency proof between two sizes")
def consistency(
    request: Request,
    first: Annotated[int, Query(ge=1, le=MAX_INT)],
    second: Annotated[int, Query(ge=1, le=MAX_INT)],
) -> Response:
    audit = _audit(request)
    if first > second:
        raise InvalidInput("first", "must not exceed second")
    _signed_size(audit, second, "second")
    if second > audit.size():
        raise InvalidInput("second", f"the log has {audit.size()} leaves")
    pin(request)
    return json_response(
        {
            "first": first,
            "second": second,
            "first_root": _b64(audit.root(first)),
            "second_root": _b64(audit.root(second)),
            "proof": [_b64(h) for h in merkle.consistency_proof(first, second, audit)],
        }
    )


@router.get(
    "/audit/events",
    summary="Export: one JSON line per leaf, streamed (see docs/audit.md)",
    response_class=StreamingResponse,
    responses={200: {"content": {NDJSON: {}}}},
)
def events(
    request: Request,
    after: Annotated[int, Query(ge=0, le=MAX_INT, description="Skip the first `after` leaves")] = 0,
    limit: Annotated[int, Query(ge=1, le=1_000_000)] = 10_000,
) -> StreamingResponse:
    recorder = request.app.state.runtime.ledger.recorder
    lines = export_lines(recorder, _audit(request), after, limit)
    return StreamingResponse(_chunks(lines), media_type=NDJSON)


def _chunks(lines: Iterator[bytes], size: int = 1000) -> Iterator[bytes]:
    """Lines joined into chunks: starlette sends each item of a sync iterator through a worker
    thread, which costs more than the line itself (16 s per 100k events one line at a time)."""
    while chunk := b"".join(itertools.islice(lines, size)):
        yield chunk


def _views_at_size(
    request: Request, size: int | None, min_position: int | None
) -> tuple[ViewStore, StoredCheckpoint, int]:
    """The views, the checkpoint pinning `size` (default: the latest) and the tree size, once
    the views hold that many events (else 422: retry shortly)."""
    views = views_at(request, min_position)
    pinned = _signed_size(_audit(request), size)
    tree_size = size if size is not None else pinned.size
    if tree_size > views.tracking.tracked(CATALOG)[1]:
        raise InvalidInput("size", "the views have not reached that size yet; retry shortly")
    return views, pinned, tree_size


@router.get(
    "/tools/{slug}/score-proof",
    summary="A tool's figures at a log size, the leaves they rest on, and their checkpoint",
)
def score_proof(
    request: Request, slug: str, size: Size = None, min_position: MinPosition = None
) -> Response:
    rules.slug(slug)
    views, pinned, tree_size = _views_at_size(request, size, min_position)
    basis = score_basis(views.tool_points(CATALOG, slug, tree_size))
    if basis.last is None:
        raise UnknownTool(slug)
    if size is not None:
        pin(request)
    return json_response(
        {"tool": slug, "size": tree_size, **basis.document(), "checkpoint": _checkpoint(pinned)}
    )


@router.get(
    "/audit/scores",
    summary="Every tool's figures and score proof at a signed log size, a page of tools at a time",
)
def scores(
    request: Request,
    size: Size = None,
    after: After = None,
    limit: Annotated[int, Query(ge=1, le=MAX_SCORE_TOOLS)] = MAX_SCORE_TOOLS,
    min_position: MinPosition = None,
) -> Response:
    """What an auditor compares with its replay, for the tools of one page: as
    `/tools/{slug}?as_of=` (status, panel) and `/tools/{slug}/score-proof` answer per tool."""
    views, pinned, tree_size = _views_at_size(request, size, min_position)
    cursor = Cursor.decode(after, tree_size) if after is not None else None
    page = score_page(views.db, tree_size, cursor, limit)
    if size is not None:
        pin(request)
    return json_response(
        {
            "size": tree_size,
            "checkpoint": _checkpoint(pinned),
            "tools": page.tools,
            "next": page.next.encode(tree_size) if page.next is not None else None,
        }
    )
