"""The witness's ASGI app: `POST /add-checkpoint` (C2SP tlog-witness), nothing else.

The checks and the durable write run in a worker thread (SQLite fsyncs); refusals become
responses here, in one place: 409 as `text/x.tlog.size`, the others as RFC 9457 problems."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.problems import problem
from api.witness.protocol import MAX_BODY, TLOG_SIZE, format_tlog_size
from api.witness.witness import Refusal, SizeConflict, Witness


class BodyTooLarge(Refusal):
    status, title = 413, "Body larger than the limit"


async def _body(request: Request) -> bytes:
    """The request body, refused once it passes MAX_BODY (before it is all read)."""
    chunks: list[bytes] = []
    read = 0
    async for chunk in request.stream():
        read += len(chunk)
        if read > MAX_BODY:
            raise BodyTooLarge(f"an add-checkpoint body is at most {MAX_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def refusal_response(refusal: Refusal) -> Response:
    if isinstance(refusal, SizeConflict):
        # Set as a header: Starlette would append "; charset=utf-8" to a text/ media type.
        headers = {"content-type": TLOG_SIZE}
        return Response(format_tlog_size(refusal.size), status_code=409, headers=headers)
    type_ = refusal.title.lower().replace(" ", "-")
    return problem(refusal.status, type_, refusal.title, refusal.detail)


def create_witness_app(witness: Witness) -> Starlette:
    async def add_checkpoint(request: Request) -> Response:
        try:
            cosignatures = await run_in_threadpool(witness.add_checkpoint, await _body(request))
        except Refusal as refusal:
            return refusal_response(refusal)
        return Response(cosignatures, media_type="text/plain")

    return Starlette(routes=[Route("/add-checkpoint", add_checkpoint, methods=["POST"])])
