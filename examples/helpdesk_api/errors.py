"""Typed errors to HTTP answers, each with the error's context in a JSON body.

| error | status |
|---|---|
| ``InvalidTransition`` (not defined from the stage) | 409 |
| ``PermissionDenied`` (role) | 403 |
| ``TransitionRefused`` (guards) | 422, every reason and guard |
| ``ConcurrentUpdate`` (lost race) / ``StaleTicket`` | 409 with the current version |
| ``TicketNotFound`` | 404 |
| payload shape (pydantic ``ValidationError``; a body that is not a JSON object) | 422, every problem |
| ``TicketExists``, ``IdempotencyConflict`` | 409 |
| before-hook veto (``HookFailed``, phase before) | 422 |
| no actor / unknown role | 401 / 403 |
| a header that cannot be read (``If-Match`` not a version) | 422 |
| ``LockTimeout``, other ``StoreError`` | 503 |
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi.responses import JSONResponse
from pydantic import ValidationError

from escalation_fsm import (
    ConcurrentUpdate,
    HookFailed,
    IdempotencyConflict,
    InvalidTransition,
    PermissionDenied,
    StaleTicket,
    StoreError,
    TicketExists,
    TicketNotFound,
    TransitionRefused,
)

from .actors import NotAuthenticated, UnknownRole

if TYPE_CHECKING:
    from fastapi import FastAPI, Request


class LostRace(Exception):
    """A ``ConcurrentUpdate``, with the version the ticket has now (read after the race)."""

    def __init__(self, error: ConcurrentUpdate, current_version: int | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.current_version = current_version


class BadHeader(Exception):
    """A request header whose value cannot be used: which header, what was sent, what is allowed."""

    def __init__(self, header: str, value: str, allowed: str) -> None:
        super().__init__(f"header {header}: {value!r} is not {allowed}")
        self.header = header
        self.value = value
        self.allowed = allowed


class BadBody(Exception):
    """A fire request whose body is not a JSON object (answered as a payload of the wrong shape)."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def _body(error: str, message: str, **context: Any) -> dict[str, Any]:
    return {"error": error, "message": message, **context}


def answer(exc: Exception) -> JSONResponse:  # noqa: PLR0911, PLR0912 (a branch per error type)
    """The HTTP answer for one of the errors a route lets through."""
    if isinstance(exc, LostRace):
        race = exc.error
        context: dict[str, Any] = {"ticket_id": race.ticket_id, "trigger": race.trigger,
                                   "current_version": exc.current_version}
        if isinstance(race, StaleTicket):
            context["expected_version"] = race.expected_version
            return JSONResponse(_body("stale_ticket", str(race), **context), 409)
        return JSONResponse(_body("lost_race", str(race), attempts=race.attempts, **context), 409)
    if isinstance(exc, TicketNotFound):
        return JSONResponse(_body("ticket_not_found", str(exc), ticket_id=exc.ticket_id), 404)
    if isinstance(exc, TransitionRefused):
        return JSONResponse(_body("transition_refused", str(exc), stage=exc.stage,
                                  trigger=exc.trigger, reasons=list(exc.reasons),
                                  failed_guards=sorted(exc.failed_guards),
                                  allowed=sorted(exc.allowed)), 422)
    if isinstance(exc, PermissionDenied):
        return JSONResponse(_body("permission_denied", str(exc), stage=exc.stage,
                                  trigger=exc.trigger, role=exc.role,
                                  allowed_roles=sorted(exc.allowed_roles)), 403)
    if isinstance(exc, InvalidTransition):
        return JSONResponse(_body("invalid_transition", str(exc), stage=exc.stage,
                                  trigger=exc.trigger, defined=sorted(exc.defined)), 409)
    if isinstance(exc, ValidationError):
        return JSONResponse(_body("invalid_payload", "the payload does not have the shape the "
                                  "trigger needs", problems=[
                                      f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}"
                                      for e in exc.errors()]), 422)
    if isinstance(exc, HookFailed):
        return JSONResponse(_body("vetoed", str(exc), trigger=exc.trigger,
                                  failures=[name for name, _ in exc.failures]), 422)
    if isinstance(exc, (TicketExists, IdempotencyConflict)):
        return JSONResponse(_body(type(exc).__name__, str(exc)), 409)
    if isinstance(exc, NotAuthenticated):
        return JSONResponse(_body("not_authenticated", exc.reason), 401)
    if isinstance(exc, BadBody):
        return JSONResponse(_body("invalid_payload", "the payload does not have the shape the "
                                  "trigger needs", problems=[exc.problem]), 422)
    if isinstance(exc, BadHeader):
        return JSONResponse(_body("invalid_header", str(exc), header=exc.header, value=exc.value,
                                  allowed=exc.allowed), 422)
    if isinstance(exc, UnknownRole):
        return JSONResponse(_body("unknown_role", str(exc), role=exc.role,
                                  roles=sorted(exc.roles)), 403)
    assert isinstance(exc, StoreError)  # noqa: S101 (only these are registered)
    return JSONResponse(_body("store_unavailable", str(exc)), 503)


def install(app: FastAPI) -> None:
    """Register :func:`answer` for every error type above."""
    async def handler(request: Request, exc: Exception) -> JSONResponse:
        return answer(exc)

    for kind in (LostRace, TicketNotFound, TransitionRefused, PermissionDenied, InvalidTransition,
                 ValidationError, HookFailed, TicketExists, IdempotencyConflict, NotAuthenticated,
                 UnknownRole, BadHeader, BadBody, StoreError):
        app.add_exception_handler(kind, handler)
