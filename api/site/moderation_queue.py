"""The moderation queue at /editor/moderation: ballots that look coordinated
(api/voting/coordination.py), a form per group to void them, for moderators only.

A moderator signs in on the console's form with a moderator key (api/site/editor.py) and sees
only these pages; an editor's session, a voter's token or cookie get 403, no session the
sign-in form (401). The void form calls the same use case as POST /v1/moderation/voids
(`Ledger.void_ballots`), with the CSRF check every console form has; a refusal shows the queue
again with the field at fault marked, and nothing written."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.site.editor import NO_STORE, _done, _forged, _form, _problem, _signed_out, signed_in
from api.site.pages import VOTER_COOKIE, error_page, from_this_site, render_page
from api.voting.coordination import coordinated
from api.voting.credentials import Principal
from api.voting.registrations import parse_cursor
from api.voting.votes import Voting
from domain.application import Ledger
from domain.errors import LedgerError
from domain.receipts import Receipt
from projections.catalog.views import CATALOG, Documents, ViewStore

router = APIRouter(prefix="/editor/moderation", include_in_schema=False)

VOID_FIELDS = ("reason", "rule", "voters")
RULE = "coordinated registrations"
"""The rule a void from the queue names unless the moderator writes another."""


def _runtime(request: Request) -> Any:
    return request.app.state.runtime


def _moderator(request: Request) -> Principal | Response:
    """The moderator holding this request's session; else the answer: the sign-in form for
    nobody, 403 for anyone else (an editor's session, a voter's token or cookie)."""
    who = signed_in(request)
    if who is not None and who.role == "moderator":
        return who
    voter = request.cookies.get(VOTER_COOKIE) or request.headers.get("authorization")
    if who is None and not voter:
        return _signed_out(request)
    return error_page(
        request,
        403,
        "Moderators only",
        "The moderation queue is for moderators: sign in at /editor with a moderator key.",
        headers=NO_STORE,
    )


def _queue(
    request: Request,
    moderator: Principal,
    after: str | None,
    *,
    error: dict[str, Any] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    runtime = _runtime(request)
    views: ViewStore = runtime.views
    voting: Voting = request.app.state.voting
    page = coordinated(voting.registry, runtime.ledger, views.listed_slugs(), after)
    return render_page(
        request,
        "moderation.html",
        {
            "editor": moderator,
            "groups": page.groups,
            "next": page.next,
            "after": after or "",
            "first": after is None,
            "rule": RULE,
            "error": error,
            "values": values or {},
            "done": request.query_params.get("done"),
            "at": Documents(*views.tracking.tracked(CATALOG), []),
        },
        status=error["status"] if error else 200,
        headers=NO_STORE,
    )


def _after(value: str | None) -> str | None:
    return value if value and parse_cursor(value) is not None else None


@router.get("", name="moderation-queue")
def queue(request: Request) -> Response:
    """Groups of ballots that look coordinated, largest first, a page at a time
    (`?after=<cursor>`)."""
    moderator = _moderator(request)
    if isinstance(moderator, Response):
        return moderator
    return _queue(request, moderator, _after(request.query_params.get("after")))


@router.post("/voids", name="moderation-void")
async def void(request: Request) -> Response:
    """Void one group's ballots (the voters the form lists) with a reason and a rule."""
    form = await _form(request)
    moderator = await run_in_threadpool(_moderator, request)
    if isinstance(moderator, Response):
        return moderator
    if not from_this_site(request, form):
        return await run_in_threadpool(_forged, request)
    return await run_in_threadpool(_void, request, moderator, form)


def _void(request: Request, moderator: Principal, form: dict[str, str]) -> Response:
    ledger: Ledger = _runtime(request).ledger
    voters = form.get("voters", "").split()
    try:
        receipt = ledger.void_ballots(
            form.get("tool", ""),
            voters,
            form.get("reason", ""),
            form.get("rule", ""),
            moderator.actor,
        )
    except LedgerError as error:
        problem = _problem(form.get("group", ""), error, VOID_FIELDS)
        if problem["field"] is None and (error.field or "").startswith("voters"):
            problem["field"] = "voters"  # `voters[i]`: the list the form carries
        return _queue(request, moderator, _after(form.get("after")), error=problem, values=form)
    return _done("/editor/moderation", Receipt(receipt.outcome, receipt.events[-1][1]))
