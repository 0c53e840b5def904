"""Bearer credentials as FastAPI dependencies: `Editor`, `Moderator` and `Voter` name who is
calling; each route takes exactly one role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.voting.credentials import EDITOR_KEY_PREFIX, Credentials, Principal

bearer = HTTPBearer(auto_error=False, description="An editor key, or a voter token")


class Unauthenticated(Exception):
    """No credential, or one the ledger does not know (401)."""


class Forbidden(Exception):
    """A valid credential of the wrong role (403)."""


def _credentials(request: Request) -> Credentials:
    credentials: Credentials = request.app.state.runtime.credentials
    return credentials


async def principal(
    request: Request,
    auth: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """Async, so a vote costs no thread hop here: a voter token is checked by HMAC alone; an
    editor key needs a database look-up, which runs in the thread pool."""
    if auth is None:
        raise Unauthenticated("send 'Authorization: Bearer <key or token>'")
    store = _credentials(request)
    token = auth.credentials
    if token.startswith(EDITOR_KEY_PREFIX):
        who = await run_in_threadpool(store.editor, token)
    else:
        who = store.voter(token)
    if who is None:
        raise Unauthenticated("unknown, malformed or revoked credential")
    return who


def _role(role: str, credential: str) -> Callable[[Principal], Awaitable[Principal]]:
    """The dependency that lets only `role` through: any other valid credential is refused
    (403), naming the `credential` the route needs."""

    async def dependency(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if who.role != role:
            raise Forbidden(f"this route needs {credential}")
        return who

    return dependency


editor = _role("editor", "an editor key")
moderator = _role("moderator", "a moderator key")
voter = _role("voter", "a voter token (POST /v1/voters)")

Editor = Annotated[Principal, Depends(editor)]
Moderator = Annotated[Principal, Depends(moderator)]
Voter = Annotated[Principal, Depends(voter)]
