"""The editor console at /editor: the editorial use cases as server-rendered forms.

Routes translate only: a form becomes one call of the `Ledger` use case the API's write route
calls (api/routes/writes.py), and a refusal becomes the same form again, with the problem's
field marked (`aria-invalid`, `aria-describedby`) and nothing written. Every form carries the
site's CSRF value (api/site/pages.py, double submit + Origin), and every request but sign-in
needs a live session (api/site/editor_sessions.py), looked up again each time.

The session cookie is `__Host-verdict-editor`: Secure, HttpOnly, SameSite=Strict, Path=/, and it
expires with the session (SESSION_SECONDS)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

import orjson
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from api.problems import status_of
from api.routes.reads import views_at
from api.site.editor_sessions import SESSION_SECONDS, EditorSessions
from api.site.pages import error_page, from_this_site, render_page
from api.site.text_diff import diff_html
from api.voting.credentials import Principal
from domain import rules
from domain.application import Ledger
from domain.errors import InvalidInput, LedgerError, ToolAlreadyListed
from domain.receipts import Receipt
from domain.settings import Settings
from projections.catalog.panel import fold_seats, panel_counts, seats_from_figures
from projections.catalog.views import CATALOG, Documents, ViewStore
from projections.records import LedgerEvent

SESSION_COOKIE = "__Host-verdict-editor"
NO_STORE = {"Cache-Control": "no-store"}
"""Console pages are one editor's: no cache, shared or private, keeps them."""
PAGE_SIZE = 20
_FIELD_OF: dict[type[LedgerError], str] = {ToolAlreadyListed: "slug"}
"""Refusals that are not InvalidInput but still concern one field of the form."""

router = APIRouter(prefix="/editor", include_in_schema=False)

Form = dict[str, str]
VERDICT_FIELDS = ("reviewer", "decision", "text", "reason")


# -- plumbing ---------------------------------------------------------------------------------


def _sessions(request: Request) -> EditorSessions:
    return EditorSessions(request.app.state.runtime.credentials)


def _ledger(request: Request) -> Ledger:
    ledger: Ledger = request.app.state.runtime.ledger
    return ledger


def signed_in(request: Request) -> Principal | None:
    """Whoever holds this request's live console session (any role a key has): what other
    console pages (e.g. moderation) build on, each checking the role it needs."""
    session = request.cookies.get(SESSION_COOKIE)
    return _sessions(request).principal(session) if session else None


def _editor(request: Request) -> Principal | None:
    """The signed-in editor; a session of any other role counts as none here."""
    who = signed_in(request)
    return who if who is not None and who.role == "editor" else None


async def _form(request: Request) -> Form:
    body = (await request.body()).decode("utf-8", "replace")
    return {k: v[-1] for k, v in parse_qs(body, keep_blank_values=True).items()}


def _views(request: Request) -> ViewStore:
    """The views once they hold `?min_position=` (a write's receipt), as the pages read them."""
    wanted = request.query_params.get("min_position", "")
    return views_at(request, int(wanted) if wanted.isdigit() else None, strict=False)


def _views_now(request: Request) -> ViewStore:
    """The views once they hold every write so far: what a preview compares against."""
    end = _ledger(request).recorder.max_notification_id() or 0
    return views_at(request, end, strict=False)


def _page_number(request: Request, name: str = "page") -> int:
    value = request.query_params.get(name, "1")
    return max(1, int(value)) if value.isdigit() and len(value) < 7 else 1


def _seats(request: Request) -> list[str]:
    """The panel's configured seats (VERDICT_PANEL_SEATS)."""
    settings: Settings = request.app.state.runtime.settings
    return list(settings.panel_seats)


@dataclass(frozen=True)
class Refused:
    """A form shown again after a refusal: `problem` marks its field, `values` refill it."""

    problem: dict[str, Any]
    values: Mapping[str, str]


def _console(
    request: Request,
    template: str,
    context: dict[str, Any],
    editor: Principal,
    *,
    status: int = 200,
    refused: Refused | None = None,
) -> Response:
    """A console page; one `refused` form on it is shown again, with the problem's status."""
    shown: dict[str, Any] = {"error": None, "values": {}}
    if refused is not None:
        shown = {"error": refused.problem, "values": refused.values}
        status = refused.problem["status"]
    return render_page(
        request,
        template,
        {"editor": editor, "done": None, **shown, **context},
        status=status,
        headers=NO_STORE,
    )


def _sign_in_page(request: Request, *, status: int, message: str | None = None) -> Response:
    views: ViewStore = request.app.state.runtime.views
    found = Documents(*views.tracking.tracked(CATALOG), [])
    error = {"form": "sign-in", "field": "key", "message": message} if message else None
    response = render_page(
        request,
        "editor_sign_in.html",
        {"at": found, "error": error},
        status=status,
        headers=NO_STORE,
    )
    if status == 401:
        response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True)
    return response


def _signed_out(request: Request) -> Response:
    return _sign_in_page(request, status=401, message="Your session has ended: sign in again.")


def _forged(request: Request) -> Response:
    return error_page(
        request,
        403,
        "Form refused",
        "This form did not come from this site, or it has expired. Go back, reload the page and "
        "try again (the console needs cookies).",
    )


def _problem(form_id: str, error: LedgerError, fields: Collection[str]) -> dict[str, Any]:
    """The refusal as the form shows it: which form, which of its `fields` (None: the form as
    a whole, e.g. "every field already holds that value")."""
    field = error.field if isinstance(error, InvalidInput) else _FIELD_OF.get(type(error))
    if field not in fields:
        field = None
    return {"form": form_id, "field": field, "message": error.detail, "status": status_of(error)}


def _done(path: str, receipt: Receipt, **query: str) -> Response:
    """303 to a console page at the write's log position, so it shows the write at once."""
    params = {**query, "done": receipt.outcome}
    if receipt.event is not None:
        params["min_position"] = str(receipt.event.id)
    return RedirectResponse(f"{path}?{urlencode(params)}", status_code=303)


Handler = Callable[[Request, Principal, Form], Response]
Write = Callable[[Ledger, Form, str], Receipt]
"""One editorial use case, called with the ledger, the form and the editor's actor."""
Again = Callable[[Request, Principal, ViewStore, Refused], Response]
"""The page a refused form is shown on again."""


def _writing(
    write: Write, again: Again, form_id: str, fields: Collection[str], done: str, **query: str
) -> Handler:
    """Every console write: the use case, then a 303 to `done` at the write's log position; a
    refusal shows the form again, against every write so far, and writes nothing."""

    def handle(request: Request, editor: Principal, form: Form) -> Response:
        try:
            receipt = write(_ledger(request), form, editor.actor)
        except LedgerError as error:
            refused = Refused(_problem(form_id, error, fields), form)
            return again(request, editor, _views_now(request), refused)
        return _done(done, receipt, **query)

    return handle


async def _post(request: Request, handler: Handler) -> Response:
    """Every console form: a live session, then the CSRF check, then the handler (in a
    thread: it reads and writes the store)."""
    form = await _form(request)
    editor = await run_in_threadpool(_editor, request)
    if editor is None:
        return await run_in_threadpool(_signed_out, request)
    if not from_this_site(request, form):
        return await run_in_threadpool(_forged, request)
    return await run_in_threadpool(handler, request, editor, form)


def _docs(found: Documents) -> list[dict[str, Any]]:
    return [orjson.loads(d) for d in found.docs]


# -- signing in and out -----------------------------------------------------------------------


@router.get("", name="editor")
def console(request: Request) -> Response:
    """The sign-in form, or for a signed-in editor every tool with its figures, a page at a
    time."""
    editor = _editor(request)
    if editor is None:
        return _sign_in_page(request, status=200)
    page = _page_number(request)
    found = _views(request).tool_documents_page(CATALOG, (page - 1) * PAGE_SIZE, PAGE_SIZE + 1)
    tools = _docs(found)
    return _console(
        request,
        "editor_tools.html",
        {
            "tools": tools[:PAGE_SIZE],
            "page": page,
            "more": len(tools) > PAGE_SIZE,
            "at": found,
            "done": request.query_params.get("done"),
            "fields": rules.LISTING_FIELDS,
        },
        editor,
    )


@router.post("/sign-in", name="editor-sign-in")
async def sign_in(request: Request) -> Response:
    """An editor key in, a session cookie out. A voter token, an unknown or a revoked key gets
    the form again (401), with no session."""
    form = await _form(request)
    if not from_this_site(request, form):
        return await run_in_threadpool(_forged, request)
    opened = await run_in_threadpool(_sessions(request).sign_in, form.get("key", "").strip())
    if opened is None:
        return await run_in_threadpool(
            _sign_in_page,
            request,
            status=401,
            message="That is not an active editor key (voter tokens cannot sign in here).",
        )
    who, session = opened
    home = "/editor/moderation" if who.role == "moderator" else "/editor"
    response = RedirectResponse(home, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session,
        max_age=SESSION_SECONDS,
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/sign-out", name="editor-sign-out")
async def sign_out(request: Request) -> Response:
    form = await _form(request)
    if not from_this_site(request, form):
        return await run_in_threadpool(_forged, request)
    session = request.cookies.get(SESSION_COOKIE)
    if session:
        await run_in_threadpool(_sessions(request).sign_out, session)
    response = RedirectResponse("/editor", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=True, httponly=True)
    return response


# -- listings ---------------------------------------------------------------------------------


@router.post("/tools", name="editor-list-tool")
async def list_tool(request: Request) -> Response:
    return await _post(request, _list_tool)


def _list_tool(request: Request, editor: Principal, form: Form) -> Response:
    slug = form.get("slug", "").strip()
    listing = {f: form.get(f, "") for f in rules.LISTING_FIELDS}
    try:
        receipt = _ledger(request).list_tool(slug, listing, editor.actor)
    except LedgerError as error:
        found = _views(request).tool_documents_page(CATALOG, 0, PAGE_SIZE + 1)
        problem = _problem("new-tool", error, ["slug", *rules.LISTING_FIELDS])
        return _console(
            request,
            "editor_tools.html",
            {
                "tools": _docs(found)[:PAGE_SIZE],
                "page": 1,
                "more": len(found.docs) > PAGE_SIZE,
                "at": found,
                "done": None,
                "fields": rules.LISTING_FIELDS,
            },
            editor,
            refused=Refused(problem, {**listing, "slug": slug}),
        )
    return _done(f"/editor/tools/{slug}", receipt)


@router.get("/tools/{slug}", name="editor-tool")
def tool(request: Request, slug: str) -> Response:
    editor = _editor(request)
    if editor is None:
        return _signed_out(request)
    return _tool_page(request, editor, slug, _views(request))


def _tool_page(
    request: Request,
    editor: Principal,
    slug: str,
    views: ViewStore,
    refused: Refused | None = None,
) -> Response:
    """One tool: its listing (amend, delist) and a form per seat of its panel, one of them
    perhaps `refused`."""
    found = views.tool_documents(CATALOG, [slug]) if rules.is_slug(slug) else None
    if found is None or not found.docs:
        return error_page(request, 404, "No such tool", f"No tool is listed as “{slug}”.")
    doc = _docs(found)[0]
    current = {v["seat"]: v for v in doc["panel"]["verdicts"]}
    seats = list(dict.fromkeys([*_seats(request), *current]))
    return _console(
        request,
        "editor_tool.html",
        {
            "tool": doc,
            "seats": seats,
            "current": current,
            "fields": rules.LISTING_FIELDS,
            "done": request.query_params.get("done"),
            "at": found,
        },
        editor,
        refused=refused,
    )


def _tool_again(slug: str) -> Again:
    def again(request: Request, editor: Principal, views: ViewStore, refused: Refused) -> Response:
        return _tool_page(request, editor, slug, views, refused)

    return again


@router.post("/tools/{slug}/amend", name="editor-amend-listing")
async def amend_listing(request: Request, slug: str) -> Response:
    def write(ledger: Ledger, form: Form, actor: str) -> Receipt:
        changes: dict[str, str] = {f: form[f] for f in rules.LISTING_FIELDS if f in form}
        return ledger.amend_listing(slug, changes, form.get("reason", ""), actor)

    fields = [*rules.LISTING_FIELDS, "reason"]
    return await _post(
        request, _writing(write, _tool_again(slug), "listing", fields, f"/editor/tools/{slug}")
    )


@router.post("/tools/{slug}/delist", name="editor-delist")
async def delist(request: Request, slug: str) -> Response:
    def write(ledger: Ledger, form: Form, actor: str) -> Receipt:
        return ledger.delist_tool(slug, form.get("reason", ""), actor)

    return await _post(
        request, _writing(write, _tool_again(slug), "delist", ["reason"], f"/editor/tools/{slug}")
    )


# -- verdicts ---------------------------------------------------------------------------------


def _would_be(doc: Mapping[str, Any], seat: str, form: Form) -> dict[str, Any]:
    """The panel figures the form would give, by the projection's own fold and rounding: the
    would-be event folded into the current seats."""
    seats = seats_from_figures(doc["panel"])
    kind = "Panel.VerdictAmended" if seat in seats else "Panel.VerdictPublished"
    data = {
        "tool": doc["slug"],
        "seat": seat,
        "reviewer": form.get("reviewer", ""),
        "decision": form.get("decision", ""),
        "text": form.get("text", ""),
    }
    now = datetime.now(UTC).isoformat()
    event = LedgerEvent(0, "", kind, "", 0, now, data)
    return panel_counts(fold_seats(seats, event))


@router.post("/tools/{slug}/seats/{seat}/preview", name="editor-preview")
async def preview(request: Request, slug: str, seat: str) -> Response:
    """What a publication or amendment would change, before it is written: the text's diff
    against the current version and the panel % it would give. Writes nothing."""

    def handle(request: Request, editor: Principal, form: Form) -> Response:
        return _preview_page(request, editor, slug, seat, form, _views_now(request))

    return await _post(request, handle)


def _preview_page(
    request: Request,
    editor: Principal,
    slug: str,
    seat: str,
    form: Form,
    views: ViewStore,
    *,
    refused: Refused | None = None,
    notice: str | None = None,
) -> Response:
    found = (
        views.tool_documents(CATALOG, [slug])
        if rules.is_slug(slug) and rules.is_slug(seat)
        else None
    )
    if found is None or not found.docs:
        return error_page(request, 404, "No such tool", f"No tool is listed as “{slug}”.")
    doc = _docs(found)[0]
    current = next((v for v in doc["panel"]["verdicts"] if v["seat"] == seat), None)
    if form.get("decision") not in rules.DECISIONS:
        problem = {
            "form": f"seat-{seat}",
            "field": "decision",
            "message": "decision: must be 'ship' or 'skip'",
            "status": 422,
        }
        return _tool_page(request, editor, slug, views, Refused(problem, form))
    return _console(
        request,
        "editor_preview.html",
        {
            "tool": doc,
            "seat": seat,
            "current": current,
            "form": form,
            "diff": diff_html(current["text"] if current else "", form.get("text", "")),
            "after": _would_be(doc, seat, form),
            "base": str(current["position"]) if current else "0",
            "notice": notice,
            "at": found,
        },
        editor,
        refused=refused,
    )


@router.post("/tools/{slug}/seats/{seat}/publish", name="editor-publish")
async def publish(request: Request, slug: str, seat: str) -> Response:
    """Publish or amend the verdict as previewed. If the seat changed since the preview (another
    editor), the preview is shown again against the new version and nothing is written."""

    def handle(request: Request, editor: Principal, form: Form) -> Response:
        views = _views_now(request)
        found = views.tool_documents(CATALOG, [slug]) if rules.is_slug(slug) else None
        docs = _docs(found) if found else []
        now = next((v for d in docs for v in d["panel"]["verdicts"] if v["seat"] == seat), None)
        if str(now["position"] if now else 0) != form.get("base", ""):
            return _preview_page(
                request,
                editor,
                slug,
                seat,
                form,
                views,
                notice="This seat changed since your preview: here is the preview again, "
                "against the current version.",
            )
        try:
            receipt = _ledger(request).put_verdict(
                slug,
                seat,
                form.get("reviewer", ""),
                form.get("decision", ""),
                form.get("text", ""),
                editor.actor,
                form.get("reason") or None,
            )
        except LedgerError as error:
            refused = Refused(_problem(f"seat-{seat}", error, VERDICT_FIELDS), form)
            if refused.problem["field"] == "reason":
                return _preview_page(request, editor, slug, seat, form, views, refused=refused)
            return _tool_page(request, editor, slug, views, refused)
        return _done(f"/editor/tools/{slug}", receipt, seat=seat)

    return await _post(request, handle)


@router.post("/tools/{slug}/seats/{seat}/retract", name="editor-retract")
async def retract(request: Request, slug: str, seat: str) -> Response:
    def write(ledger: Ledger, form: Form, actor: str) -> Receipt:
        return ledger.retract_verdict(slug, seat, form.get("reason", ""), actor)

    again, done = _tool_again(slug), f"/editor/tools/{slug}"
    return await _post(
        request, _writing(write, again, f"retract-{seat}", ["reason"], done, seat=seat)
    )


# -- comparisons ------------------------------------------------------------------------------


@router.get("/comparisons", name="editor-comparisons")
def comparisons(request: Request) -> Response:
    editor = _editor(request)
    if editor is None:
        return _signed_out(request)
    return _comparisons_page(request, editor, _views(request))


def _comparisons_page(
    request: Request,
    editor: Principal,
    views: ViewStore,
    refused: Refused | None = None,
) -> Response:
    """Every comparison (withdrawn ones too), a page at a time, and the form to publish one.
    The catalog has one row per pair, so a page is cut from the one read."""
    page = _page_number(request)
    found = views.comparison_documents(CATALOG)
    every = _docs(found)
    start = (page - 1) * PAGE_SIZE
    tools = [t for t in _docs(views.tool_documents(CATALOG)) if t["status"] == "listed"]
    return _console(
        request,
        "editor_comparisons.html",
        {
            "comparisons": every[start : start + PAGE_SIZE],
            "page": page,
            "more": len(every) > start + PAGE_SIZE,
            "tools": sorted(tools, key=lambda t: t["slug"]),
            "done": request.query_params.get("done"),
            "at": found,
        },
        editor,
        refused=refused,
    )


@router.post("/comparisons", name="editor-publish-comparison")
async def publish_comparison(request: Request) -> Response:
    def write(ledger: Ledger, form: Form, actor: str) -> Receipt:
        return ledger.publish_comparison(form.get("left", ""), form.get("right", ""), actor)

    fields = ["left", "right"]
    return await _post(
        request,
        _writing(write, _comparisons_page, "new-comparison", fields, "/editor/comparisons"),
    )


@router.post("/comparisons/{left}/{right}/withdraw", name="editor-withdraw-comparison")
async def withdraw_comparison(request: Request, left: str, right: str) -> Response:
    def write(ledger: Ledger, form: Form, actor: str) -> Receipt:
        return ledger.withdraw_comparison(left, right, form.get("reason", ""), actor)

    form_id = f"withdraw-{left}-vs-{right}"
    return await _post(
        request, _writing(write, _comparisons_page, form_id, ["reason"], "/editor/comparisons")
    )


# -- the editor's own actions -----------------------------------------------------------------


@router.get("/actions", name="editor-actions")
def actions(request: Request) -> Response:
    """This editor's actions, newest first, PAGE_SIZE at a time (`?before=<position>`): one
    range of the catalog's (actor, position) index, however long the log."""
    editor = _editor(request)
    if editor is None:
        return _signed_out(request)
    wanted = request.query_params.get("before", "")
    before = int(wanted) if wanted.isdigit() and len(wanted) < 19 else 2**62
    found = _views(request).actions(CATALOG, editor.actor, before, PAGE_SIZE + 1)
    done = _docs(found)
    return _console(
        request,
        "editor_actions.html",
        {
            "actions": done[:PAGE_SIZE],
            "next_before": done[PAGE_SIZE - 1]["position"] if len(done) > PAGE_SIZE else None,
            "at": found,
        },
        editor,
    )
