"""The routes: tickets, firing triggers, what is allowed and why not, history, due deadlines, SVG.

Every write goes through the store's ``apply`` (guards, roles, payload, compare-and-swap,
after-hooks once after the commit); the routes only translate HTTP to it and back. Errors are
answered by :mod:`.errors`; the actor comes from :mod:`.actors`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter
from typing_extensions import TypedDict  # pydantic's TypedDict support (Python < 3.12)

from escalation_fsm import (
    Actor,
    AuditRecord,
    Category,
    ConcurrentUpdate,
    EscalationMachine,
    HookFailed,
    Ticket,
    TicketNotFound,
)
from escalation_fsm.diagrams import render
from escalation_fsm.stores import AsyncStoreBase

from . import errors
from .actors import Authenticate, header_actor
from .settings import Settings, open_store

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send


class NewTicket(BaseModel):
    """What ``POST /tickets`` takes (the rest of a ticket comes from its transitions)."""

    id: str
    customer_id: str
    category: Category
    details: str = ""
    opened_at: datetime | None = None


# Dependencies are `async def`: FastAPI would run plain functions in a worker thread.
async def _store(request: Request) -> AsyncStoreBase:
    found: AsyncStoreBase = request.app.state.store
    return found


async def _machine(request: Request) -> EscalationMachine:
    found: EscalationMachine = request.app.state.machine
    return found


async def _actor(request: Request) -> Actor:
    authenticate: Authenticate = request.app.state.authenticate
    return await authenticate(request)


Store = Annotated[AsyncStoreBase, Depends(_store)]
Machine = Annotated[EscalationMachine, Depends(_machine)]
Caller = Annotated[Actor, Depends(_actor)]
Payload = Annotated[dict[str, Any] | None, Body()]


def _ticket(ticket: Ticket) -> dict[str, Any]:
    return ticket.model_dump(mode="json")


class Fired(TypedDict):
    """A fire's answer: the ticket without its history (``GET`` has it) and the new record."""

    ticket: Ticket
    record: AuditRecord | None
    version: int
    hook_failures: list[str]


_FIRED = TypeAdapter(Fired)
_WITHOUT_HISTORY = {"ticket": {"history"}}


def _fired(ticket: Ticket, hook_failures: list[str]) -> Response:
    """The hot route's answer (:class:`Fired`), written by pydantic in one call.

    The adapter only serialises (nothing is validated again) and writes the JSON bytes itself:
    no dict is built and walked by ``json.dumps``, and the ticket and its record are not written
    separately and joined.
    """
    answer: Fired = {"ticket": ticket, "record": ticket.history[-1] if ticket.history else None,
                     "version": ticket.version, "hook_failures": hook_failures}
    return Response(_FIRED.dump_json(answer, exclude=_WITHOUT_HISTORY),
                    media_type="application/json")


async def create(new: NewTicket, db: Store, machine: Machine, caller: Caller) -> dict[str, Any]:
    """Open a ticket (in the procedure's first stage)."""
    return _ticket(await db.create(machine.new_ticket(**new.model_dump())))


async def read(ticket_id: str, db: Store) -> dict[str, Any]:
    """The ticket with its history."""
    return _ticket(await db.get(ticket_id))


_FIRE_OPENAPI: dict[str, Any] = {
    "parameters": [
        {"name": "Idempotency-Key", "in": "header", "required": False,
         "schema": {"type": "string"},
         "description": "the same key again answers as the first call did, writing nothing"},
        {"name": "If-Match", "in": "header", "required": False,
         "schema": {"type": "integer", "minimum": 0},
         "description": "fire only if the ticket is still at this version (else 409)"}],
    "requestBody": {"required": False, "description": "the trigger's payload", "content": {
        "application/json": {"schema": {"type": "object", "additionalProperties": True}}}}}
"""What the fire route reads itself (its headers and JSON body), for the OpenAPI page."""


def _version(value: str | None) -> int | None:
    """``If-Match``'s version (quotes allowed, as for an entity tag), or ``None`` without one."""
    if value is None:
        return None
    text = value.strip().strip('"')
    if not text.isascii() or not text.isdigit():
        raise errors.BadHeader("If-Match", value, "a ticket version: a whole number from 0")
    return int(text)


async def _payload(request: Request) -> dict[str, Any]:
    """The JSON object the request's body holds (none: an empty payload)."""
    body = await request.body()
    if not body.strip():
        return {}
    try:
        found = json.loads(body)
    except ValueError as exc:  # bad JSON, or bytes that are not UTF-8
        raise errors.BadBody(f"the body is not JSON: {exc}") from exc
    if not isinstance(found, dict):
        raise errors.BadBody(f"the body is JSON {type(found).__name__}, not an object of the "
                             f"trigger's payload fields")
    return found


class _RequestRoute(APIRoute):
    """A route whose endpoint takes its path parameters (text) and the request, nothing else.

    FastAPI resolves an endpoint's parameters on every request (a dependency-solving pass, even
    for two path strings and the request); this route calls the endpoint with
    ``request.path_params`` directly. It stays an ``APIRoute``, so the OpenAPI page describes it
    from the endpoint's signature and ``openapi_extra`` as before.

    On the app itself, its ASGI app is just that call and the answer: FastAPI's wrapper around a
    route adds two exit stacks (for dependencies with ``yield``, which this route has none of)
    and answers the route's exceptions with the app's handlers, which the app's exception
    middleware does the same way one layer out. (Included through a router, FastAPI builds the
    route's app from :meth:`get_route_handler` itself.)
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        super().__init__(path, endpoint, **options)

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            request = Request(scope, receive, send)
            answer: Response = await endpoint(request=request, **request.path_params)
            await answer(scope, receive, send)
        self.app = app

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            answer: Response = await endpoint(request=request, **request.path_params)
            return answer
        return handler


async def fire(ticket_id: str, trigger: str, request: Request) -> Response:
    """Fire ``trigger`` as the caller, with the JSON body as its payload.

    ``If-Match``: only on that version; ``Idempotency-Key``: a retry is answered, not fired
    again. The hot route takes the request itself: the store, the caller, the optional headers and the
    body are read from it directly rather than through FastAPI dependencies, header and body
    parameters, each of which costs a resolution step per request, and its route
    (:class:`_RequestRoute`) skips even the resolution of its path parameters
    (``docs/service.md``, "Speed"); the OpenAPI page still lists them (``_FIRE_OPENAPI``).
    """
    state = request.app.state
    db: AsyncStoreBase = state.store
    caller = await state.authenticate(request)
    headers = request.headers
    try:
        new = await db.apply(ticket_id, trigger, actor=caller,
                             idempotency_key=headers.get("idempotency-key"),
                             expected_version=_version(headers.get("if-match")),
                             **await _payload(request))
    except ConcurrentUpdate as race:
        try:
            current: int | None = (await db.get(ticket_id)).version
        except TicketNotFound:  # pragma: no cover (tickets are never deleted)
            current = None
        raise errors.LostRace(race, current) from race
    except HookFailed as failed:
        if failed.phase != "after":
            raise
        # Committed: the answer is the new ticket, and which hooks failed.
        return _fired(failed.ticket, [name for name, _ in failed.failures])
    return _fired(new, [])


async def allowed(ticket_id: str, db: Store, machine: Machine, caller: Caller) -> dict[str, Any]:
    """The triggers the caller could fire now (guards that read a payload aside)."""
    ticket = await db.get(ticket_id)
    return {"stage": ticket.stage, "version": ticket.version,
            "allowed": sorted(machine.allowed(ticket, caller))}


async def explain(*, ticket_id: str, trigger: str, db: Store, machine: Machine, caller: Caller,
                  payload: Payload = None) -> dict[str, Any]:
    """A dry run: would ``trigger`` with this payload succeed now, and every reason if not."""
    found = machine.explain(await db.get(ticket_id), trigger, actor=caller, **(payload or {}))
    return {"trigger": found.trigger, "stage": found.stage, "ok": found.ok,
            "destination": found.dest, "reasons": list(found.reasons), "error": found.error,
            "failed_guards": list(found.failed_guards)}


async def history(ticket_id: str, db: Store) -> list[dict[str, Any]]:
    """The ticket's audit records, oldest first."""
    return [record.model_dump(mode="json") for record in await db.history(ticket_id)]


async def due(db: Store, machine: Machine, by: datetime,
              limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    """Tickets with an SLA deadline due by ``by`` (timezone-aware), soonest first."""
    return [{"ticket_id": ticket.id, "stage": ticket.stage, "deadlines": [
        {"clock": str(d.clock), "due_at": d.due_at and d.due_at.isoformat(),
         "breached": d.breached, "owed": d.owed}
        for d in machine.deadlines(ticket, now=by) if d.is_open and d.due_by(by)]}
        for ticket in await db.due(by=by, limit=limit)]


async def diagram(ticket_id: str, db: Store, machine: Machine) -> Response:
    """The procedure with this ticket's path drawn on it (SVG, through Graphviz)."""
    ticket = await db.get(ticket_id)
    svg = await asyncio.to_thread(render, machine.spec, "svg", ticket=ticket)
    return Response(svg, media_type="image/svg+xml")


def create_app(store: AsyncStoreBase | None = None, *, settings: Settings | None = None,
               machine: EscalationMachine | None = None,
               authenticate: Authenticate | None = None) -> FastAPI:
    """The helpdesk app.

    With ``store`` (opened by the caller) the app uses it as it is; otherwise its lifespan opens
    the store ``settings`` name (default: from the environment) and closes it on shutdown.
    ``authenticate`` is where the host's authentication plugs in (default: trusted headers,
    :func:`.actors.header_actor`).
    """
    machine = machine or (store.machine if store is not None else EscalationMachine())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if store is not None:
            yield
            return
        async with open_store(settings or Settings.from_environment(), machine) as opened:
            app.state.store = opened
            yield

    app = FastAPI(title="Helpdesk escalations", lifespan=lifespan)
    app.state.store = store  # with a store given, usable without running the lifespan
    app.state.machine = machine
    app.state.authenticate = authenticate or header_actor(machine.spec)
    errors.install(app)
    _add_routes(app)
    return app


def _add_routes(app: FastAPI) -> None:
    """The routes, on the app itself, the hot one first.

    FastAPI tries an app's routes in order, so ``fire`` (most of the traffic) comes first. They
    are the app's own path operations rather than an ``APIRouter`` given to ``include_router``:
    since FastAPI 0.137 an included router stays a node of its own that matches every request
    twice (once to enter it, once within it), which cost about a fifth of the service's own
    request path here (``docs/service.md``, "Speed"). A larger service would split its routes
    into routers all the same, and pay that.
    """
    app.router.add_api_route("/tickets/{ticket_id}/fire/{trigger}", fire, methods=["POST"],
                             openapi_extra=_FIRE_OPENAPI, route_class_override=_RequestRoute)
    app.add_api_route("/tickets", create, methods=["POST"], status_code=201)
    app.add_api_route("/tickets/{ticket_id}", read, methods=["GET"])
    app.add_api_route("/tickets/{ticket_id}/allowed", allowed, methods=["GET"])
    app.add_api_route("/tickets/{ticket_id}/explain/{trigger}", explain, methods=["POST"])
    app.add_api_route("/tickets/{ticket_id}/history", history, methods=["GET"])
    app.add_api_route("/due", due, methods=["GET"])
    app.add_api_route("/tickets/{ticket_id}/diagram.svg", diagram, methods=["GET"])
