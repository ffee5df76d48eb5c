"""The reference service (examples/helpdesk_api) over HTTP, in process, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Request
from store_support import Backend, backend
from support import START

from escalation_fsm import Actor, EscalationMachine, ManualClock, TransitionEvent
from escalation_fsm.stores import AsyncPostgresStore, AsyncSQLiteStore, AsyncStoreBase
from examples.helpdesk_api import create_app
from examples.helpdesk_api.actors import NotAuthenticated

AGENT = {"X-Actor-Id": "a-1", "X-Actor-Role": "agent"}
CUSTOMER = {"X-Actor-Id": "c-1", "X-Actor-Role": "customer"}
NEW = {"id": "T-1", "customer_id": "C-1", "category": "billing", "details": "Charged twice"}

Scenario = Callable[[httpx.AsyncClient, AsyncStoreBase], Awaitable[None]]


@pytest.fixture(params=["async_sqlite", "async_postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with backend(request.param, tmp_path) as found:
        yield found


def serve(db: Backend, scenario: Scenario, *, max_attempts: int = 10,
          authenticate: Any = None,
          hooks: Callable[[EscalationMachine], None] | None = None) -> None:
    """Run ``scenario`` against the app on a fresh store of ``db``, over an in-process client.

    ``hooks`` registers hooks on the machine first.
    """
    async def main() -> None:
        machine = EscalationMachine(clock=ManualClock(START, tick=timedelta(minutes=1)))
        if hooks is not None:
            hooks(machine)
        store: AsyncStoreBase = (
            AsyncSQLiteStore(db.target, machine=machine, max_attempts=max_attempts)
            if db.kind == "async_sqlite"
            else AsyncPostgresStore(db.target, machine=machine, max_attempts=max_attempts))
        async with store:
            app = create_app(store, authenticate=authenticate)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://helpdesk") as client:
                await scenario(client, store)
    asyncio.run(main())


async def _attempted(client: httpx.AsyncClient) -> None:
    assert (await client.post("/tickets", json=NEW, headers=AGENT)).status_code == 201
    assert (await client.post("/tickets/T-1/fire/attempt", headers=AGENT)).status_code == 200


def test_a_ticket_is_created_fired_explained_listed_and_drawn(db: Backend) -> None:
    """The happy path of every route: create, fire, allowed, explain, history, due, SVG."""
    async def scenario(client: httpx.AsyncClient, store: AsyncStoreBase) -> None:
        created = await client.post("/tickets", json={**NEW, "opened_at": START.isoformat()},
                                    headers=AGENT)
        assert created.status_code == 201 and created.json()["stage"] == "identified"
        fired = await client.post("/tickets/T-1/fire/attempt", headers=AGENT)
        assert fired.status_code == 200
        assert (fired.json()["version"], fired.json()["ticket"]["stage"]) == (1, "attempted")
        assert "history" not in fired.json()["ticket"]  # the audit trail is GET's, not repeated
        assert (fired.json()["record"]["seq"], fired.json()["record"]["trigger"]) == (1, "attempt")
        allowed = (await client.get("/tickets/T-1/allowed", headers=AGENT)).json()
        assert (allowed["stage"], allowed["version"]) == ("attempted", 1)
        assert {"record_step", "resolve"} <= set(allowed["allowed"])
        assert "escalate" not in allowed["allowed"]  # no steps recorded yet: its guard says no
        assert allowed["allowed"] == sorted(allowed["allowed"])
        why = (await client.post("/tickets/T-1/explain/escalate", headers=AGENT, json={
            "summary": "s", "assessment": {"complexity": "high", "frustration": "high",
                                           "urgency": "high"}})).json()
        assert (why["ok"], why["error"], why["failed_guards"]) == (
            False, "TransitionRefused", ["has_steps"])
        assert [r["trigger"] for r in (await client.get("/tickets/T-1/history")).json()] == [
            "attempt"]
        due = (await client.get("/due", params={"by": (START + timedelta(days=30)).isoformat()}))
        assert due.status_code == 200
        [listed] = due.json()
        assert listed["ticket_id"] == "T-1" and listed["deadlines"]
        assert {d["clock"] for d in listed["deadlines"]} == {"resolution"}
        svg = await client.get("/tickets/T-1/diagram.svg")
        assert svg.headers["content-type"] == "image/svg+xml" and "<svg" in svg.text
        assert (await store.get("T-1")).version == 1

    serve(db, scenario)


def test_typed_errors_map_to_statuses_with_their_context(db: Backend) -> None:
    """404, 409 invalid transition, 403 role, 422 guards (every reason), 422 payload, 401/403
    actor, 409 stale with the current version, 422 an unreadable If-Match (naming the header),
    422 a body that is not a JSON object, 409 taken id; none of them changed anything. Then a
    quoted If-Match and a repeated Idempotency-Key work (the route reads them and its body
    itself), and the OpenAPI page lists them."""
    async def scenario(client: httpx.AsyncClient, store: AsyncStoreBase) -> None:
        await _attempted(client)
        unknown = await client.post("/tickets/T-9/fire/attempt", headers=AGENT)
        assert (unknown.status_code, unknown.json()["error"]) == (404, "ticket_not_found")
        invalid = await client.post("/tickets/T-1/fire/record_feedback", headers=AGENT,
                                    json={"rating": 3})
        assert (invalid.status_code, invalid.json()["error"]) == (409, "invalid_transition")
        assert invalid.json()["defined"] == sorted(
            {t.trigger for t in store.machine.spec.transitions_from("attempted")})
        assert {"escalate", "record_step", "resolve"} <= set(invalid.json()["defined"])
        denied = await client.post("/tickets/T-1/fire/resolve", headers=CUSTOMER,
                                   json={"solution": "x"})
        assert (denied.status_code, denied.json()["role"]) == (403, "customer")
        assert "agent" in denied.json()["allowed_roles"]
        refused = await client.post("/tickets/T-1/fire/escalate", headers=AGENT, json={
            "summary": "s", "assessment": {"complexity": "high", "frustration": "high",
                                           "urgency": "high"}})
        assert (refused.status_code, refused.json()["failed_guards"]) == (422, ["has_steps"])
        assert refused.json()["reasons"] and all(refused.json()["reasons"])
        shape = await client.post("/tickets/T-1/fire/record_step", headers=AGENT,
                                  json={"step": ["not", "text"]})
        assert (shape.status_code, shape.json()["error"]) == (422, "invalid_payload")
        assert any("step" in problem for problem in shape.json()["problems"])
        anonymous = await client.post("/tickets/T-1/fire/record_step", json={"step": "x"})
        assert (anonymous.status_code, anonymous.json()["error"]) == (401, "not_authenticated")
        stranger = await client.post("/tickets/T-1/fire/record_step", json={"step": "x"},
                                     headers={"X-Actor-Id": "x", "X-Actor-Role": "wizard"})
        assert (stranger.status_code, stranger.json()["error"]) == (403, "unknown_role")
        assert "agent" in stranger.json()["roles"]
        stale = await client.post("/tickets/T-1/fire/record_step", json={"step": "x"},
                                  headers={**AGENT, "If-Match": "0"})
        assert (stale.status_code, stale.json()["error"]) == (409, "stale_ticket")
        assert (stale.json()["current_version"], stale.json()["expected_version"]) == (1, 0)
        unreadable = await client.post("/tickets/T-1/fire/record_step", json={"step": "x"},
                                       headers={**AGENT, "If-Match": "v1"})
        assert (unreadable.status_code, unreadable.json()["error"]) == (422, "invalid_header")
        assert (unreadable.json()["header"], unreadable.json()["value"]) == ("If-Match", "v1")
        assert "whole number" in unreadable.json()["allowed"]
        for body in (b"{not json", b"[1, 2]", b"\xff\xfe"):
            bad = await client.post("/tickets/T-1/fire/record_step", content=body,
                                    headers={**AGENT, "Content-Type": "application/json"})
            assert (bad.status_code, bad.json()["error"]) == (422, "invalid_payload"), body
            assert bad.json()["problems"] and "body" in bad.json()["problems"][0]
        taken = await client.post("/tickets", json=NEW, headers=AGENT)
        assert taken.status_code == 409
        assert (await store.get("T-1")).version == 1  # nothing above wrote anything
        matched = await client.post("/tickets/T-1/fire/record_step", json={"step": "x"},
                                    headers={**AGENT, "If-Match": '"1"', "Idempotency-Key": "k"})
        assert (matched.status_code, matched.json()["version"]) == (200, 2)
        again = await client.post("/tickets/T-1/fire/record_step", json={"step": "x"},
                                  headers={**AGENT, "Idempotency-Key": "k"})
        assert (again.status_code, again.json()["version"]) == (200, 2)  # answered, not fired
        assert (await store.get("T-1")).version == 2
        fire_route = (await client.get("/openapi.json")).json()["paths"][
            "/tickets/{ticket_id}/fire/{trigger}"]["post"]
        assert {"Idempotency-Key", "If-Match"} <= {p["name"] for p in fire_route["parameters"]}
        assert "application/json" in fire_route["requestBody"]["content"]

    serve(db, scenario)


def test_fifty_concurrent_fires_on_one_ticket_commit_once_or_answer_409(db: Backend) -> None:
    """50 requests at once on one ticket: each 200 is a version found once in the history with
    its own step; each 409 (lost race, with the current version) left no trace."""
    async def scenario(client: httpx.AsyncClient, store: AsyncStoreBase) -> None:
        await _attempted(client)
        answers = await asyncio.gather(*(
            client.post("/tickets/T-1/fire/record_step", headers=AGENT, json={"step": f"s-{n}"})
            for n in range(50)))
        history = (await client.get("/tickets/T-1/history")).json()
        steps = [record["payload"].get("step") for record in history]
        committed = lost = 0
        for n, answer in enumerate(answers):
            if answer.status_code == 200:
                committed += 1
                version = answer.json()["version"]
                assert steps.count(f"s-{n}") == 1 and steps[version - 1] == f"s-{n}"
            else:
                lost += 1
                assert (answer.status_code, answer.json()["error"]) == (409, "lost_race")
                assert isinstance(answer.json()["current_version"], int)
                assert f"s-{n}" not in steps
        assert committed + lost == 50 and committed >= 10
        assert len(history) == 1 + committed
        assert (await store.verify()).ok

    serve(db, scenario)


def test_a_race_lost_on_every_attempt_is_a_409_with_the_current_version(db: Backend) -> None:
    """max_attempts=1: two requests at once, one commits, the other is a lost_race 409."""
    async def scenario(client: httpx.AsyncClient, store: AsyncStoreBase) -> None:
        await _attempted(client)
        answers = await asyncio.gather(*(
            client.post("/tickets/T-1/fire/record_step", headers=AGENT, json={"step": f"s-{n}"})
            for n in range(6)))
        codes = sorted(answer.status_code for answer in answers)
        assert 200 in codes and 409 in codes
        current = (await store.get("T-1")).version
        assert all(answer.json()["current_version"] <= current
                   for answer in answers if answer.status_code == 409)

    serve(db, scenario, max_attempts=1)


def test_the_hosts_authentication_plugs_in(db: Backend) -> None:
    """create_app(authenticate=...) decides who calls: its actor is the one recorded."""
    async def from_token(request: Request) -> Actor:
        if request.headers.get("authorization") != "Bearer good":
            raise NotAuthenticated("a valid bearer token is required")
        return Actor(id="sso-42", role="agent")

    async def scenario(client: httpx.AsyncClient, store: AsyncStoreBase) -> None:
        token = {"Authorization": "Bearer good"}
        assert (await client.post("/tickets", json=NEW, headers=token)).status_code == 201
        assert (await client.post("/tickets/T-1/fire/attempt", headers=AGENT)).status_code == 401
        assert (await client.post("/tickets/T-1/fire/attempt", headers=token)).status_code == 200
        assert (await store.history("T-1"))[0].actor_id == "sso-42"

    serve(db, scenario, authenticate=from_token)


def test_a_failing_after_hook_is_a_200_naming_it_and_a_before_hook_veto_a_422(db: Backend) -> None:
    """An after-hook that raises leaves the transition committed: 200 with the new ticket, its
    record and version, and the hook's name in ``hook_failures``; a before-hook that raises is a
    422 veto naming it, and writes nothing. (A hook is named by its qualified name.)"""
    def hooks(machine: EscalationMachine) -> None:
        @machine.after("record_step")
        def notify_crm(event: TransitionEvent) -> None:
            raise OSError("CRM down")

        @machine.before("resolve")
        def four_eyes(event: TransitionEvent) -> None:
            raise RuntimeError("a second agent must approve")

    async def scenario(client: httpx.AsyncClient, store: AsyncStoreBase) -> None:
        await _attempted(client)
        fired = await client.post("/tickets/T-1/fire/record_step", headers=AGENT,
                                  json={"step": "Checked the invoices"})
        assert fired.status_code == 200
        answer = fired.json()
        assert answer["version"] == 2
        assert [name.rsplit(".", 1)[-1] for name in answer["hook_failures"]] == ["notify_crm"]
        assert answer["ticket"]["steps"][-1]["text"] == "Checked the invoices"
        assert "history" not in answer["ticket"]
        assert (answer["record"]["seq"], answer["record"]["trigger"]) == (2, "record_step")
        assert answer["record"]["payload"] == {"step": "Checked the invoices"}
        vetoed = await client.post("/tickets/T-1/fire/resolve", headers=AGENT,
                                   json={"solution": "Refunded"})
        assert (vetoed.status_code, vetoed.json()["error"]) == (422, "vetoed")
        assert [name.rsplit(".", 1)[-1] for name in vetoed.json()["failures"]] == ["four_eyes"]
        assert (await store.get("T-1")).version == 2

    serve(db, scenario, hooks=hooks)
