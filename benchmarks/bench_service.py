"""Load on the reference service (examples/helpdesk_api), next to its store's own apply.

Usage (from the repository root)::

    python benchmarks/bench_service.py [--seconds 3] [--rounds 3] [--concurrency 1 8] [--slice 0.5]
                                       [--pg-dsn DSN]

For each store (SQLite file; PostgreSQL with ``--pg-dsn`` or ``ESCALATION_FSM_PG_DSN``) and each
concurrency, ``N`` clients fire transitions on their own tickets for ``--seconds`` (a new ticket
every 24 fires, opened untimed: requests per second count that time too, alike for every row):

* ``store apply``: tasks call ``await store.apply(...)`` directly (the reference);
* ``HTTP fire``: the same transitions as ``POST /tickets/{id}/fire/{trigger}`` through an
  in-process ASGI client (``httpx.ASGITransport``: no network, the whole FastAPI stack);
* ``HTTP no-op``: the same requests, through the same client, to the same app over a store whose
  ``apply`` answers at once with a ticket of the benchmark's usual size (:class:`NoStore`): what
  the client, the framework and the route cost by themselves, which is part of every
  ``HTTP fire`` latency (the client runs on the same event loop and CPU);
* ``ASGI fire`` and ``ASGI no-op``: the same two, driven by a minimal in-process ASGI client
  (:func:`asgi_post`: one scope, one request message, the response messages collected; the app
  and its whole stack are the same, only httpx's own request and response building is left
  out). httpx is what a test suite uses; a server in front of the app (uvicorn) costs its own,
  different share, so the service's own latency is best seen without either.

Like with like: every row runs on the same opened store, with the same number of tasks (the
service's requests are as many concurrent ``apply`` calls on the same async store and pool),
the same tickets (a new one every 24 fires) and the same cycle of triggers and payloads, and the
rows are interleaved (below). A row's latency is only the call: the request is built
before the clock starts (the JSON body, the scope; the apply's arguments likewise) and its
answer is not decoded (a 200 is checked, the status of the apply being its return), because
the client's encoding and decoding are not the service's; the next trigger follows from the
cycle, and each client's last ticket is read back at the end of the row to check that its
version counts every fire.

Besides latency, each row prints its CPU time per request (``process_time`` over the row,
divided by the requests: the client's, the framework's, the store's worker thread's) and the
load average at the start, since other processes share the cores.

Interleaving: a round gives each row ``--seconds`` in slices of about ``--slice`` seconds
(default 0.5), the rows taking turns slice by slice (the order reversed every other slice), so
that the reference and the service meet the same machine. This matters on a shared machine:
both stores wait for the disk's ``fsync`` on every commit, and its latency there jumps between
about 0.5 and 4 ms for seconds at a time with other processes' writes, which whole 3 s rows
taken one after the other turned into fire/apply ratios anywhere from 1 to 5. Each row's
apps and httpx clients are built once per store, so no row pays a first request's set-up.

Medians of ``--rounds`` rounds are printed: requests (or commits) per second and p50/p99
latency, then the p50 ratio of a fire request to a store apply (goal: at most 1.5) and the ratio
of their CPU per request, for each client. The goal is judged with the minimal ASGI client (the
service's own latency); httpx's figures are printed next to it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # examples/ from a checkout

from escalation_fsm import Actor, Category, EscalationMachine, Role, Ticket, Trigger
from escalation_fsm.stores import AsyncPostgresStore, AsyncSQLiteStore, AsyncStoreBase
from examples.helpdesk_api import create_app

AGENT = Actor(id="bench", role=Role.AGENT)
HEADERS = {"X-Actor-Id": "bench", "X-Actor-Role": "agent"}
CYCLE = {"attempted": ("record_step", "record_step", "resolve"), "resolved": ("reopen",)}
AFTER = {"record_step": "attempted", "resolve": "resolved", "reopen": "attempted"}
"""The stage each trigger of the cycle leaves a ticket in (every request must commit)."""
FIELD = {"record_step": "step", "resolve": "solution", "reopen": "reason"}

Call = Callable[[], Awaitable[None]]
Prepare = Callable[[str, str, dict[str, str]], Call]
"""A row's client: builds one request (untimed) and returns the call that sends it (timed)."""


TICKET_FIRES = 24
"""Fires per ticket before a client opens the next one (a ticket of a realistic size)."""


async def open_ticket(store: AsyncStoreBase, ticket_id: str) -> None:
    await store.create(Ticket(id=ticket_id, customer_id="C", category=Category.TECHNICAL,
                              details="bench"))
    await store.apply(ticket_id, Trigger.ATTEMPT, actor=AGENT)


async def drive(prepare: Prepare, store: AsyncStoreBase, clients: int, seconds: float,
                tag: str, *, writes: bool = True) -> tuple[float, list[float]]:
    """``clients`` tasks firing on their own tickets; (per second, latencies in ms).

    Each client opens a new ticket every ``TICKET_FIRES`` fires (untimed, the same for every
    row), so that tickets keep a realistic size: a ticket fired at for the whole row would grow
    by hundreds of steps, and the service's answer (the ticket) with it, so that the figures
    would depend on ``--seconds``. At the end each client's last ticket is read back: its
    version must count every fire on it (``writes``; the no-op rows write nothing: 1).
    """
    latencies: list[float] = []
    for c in range(clients):
        await open_ticket(store, f"{tag}-{c}-0")
    deadline = time.perf_counter() + seconds
    last: dict[str, int] = {}

    async def client(c: int) -> None:
        stage, n, ticket_id = "attempted", 0, f"{tag}-{c}-0"
        while time.perf_counter() < deadline:
            if n and n % TICKET_FIRES == 0:
                ticket_id = f"{tag}-{c}-{n // TICKET_FIRES}"
                await open_ticket(store, ticket_id)
                stage = "attempted"
            trigger = CYCLE[stage][n % len(CYCLE[stage])]
            call = prepare(ticket_id, trigger, {FIELD[trigger]: f"x{n}"})
            began = time.perf_counter()
            await call()
            latencies.append((time.perf_counter() - began) * 1000)
            stage = AFTER[trigger]
            n += 1
        last[ticket_id] = 1 + ((n - 1) % TICKET_FIRES + 1 if n and writes else 0)

    began = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    rate = len(latencies) / (time.perf_counter() - began)
    for ticket_id, version in last.items():
        found = (await store.get(ticket_id)).version
        if found != version:
            raise AssertionError(f"{ticket_id}: version {found}, {version} expected")
    return rate, latencies


class NoStore:
    """What the no-op rows serve from: ``apply`` answers ``ticket`` at once, writing nothing.

    ``ticket`` has the benchmark's usual size (the middle of a ticket's 24 fires), so that the
    service's answer costs what it costs in the fire rows.
    """

    def __init__(self, machine: EscalationMachine, ticket: Ticket) -> None:
        self.machine = machine
        self.ticket = ticket

    async def apply(self, ticket_id: str, trigger: str, **options: Any) -> Ticket:
        return self.ticket


async def typical_ticket(store: AsyncStoreBase, ticket_id: str) -> Ticket:
    """A ticket as the fire rows answer it on average: opened, then 12 fires of the cycle."""
    await open_ticket(store, ticket_id)
    stage, ticket = "attempted", await store.get(ticket_id)
    for n in range(TICKET_FIRES // 2):
        trigger = CYCLE[stage][n % len(CYCLE[stage])]
        ticket = await store.apply(ticket_id, trigger, actor=AGENT, **{FIELD[trigger]: f"x{n}"})
        stage = AFTER[trigger]
    return ticket


Scope = dict[str, Any]


def asgi_request(path: str, payload: dict[str, str],
                 headers: dict[str, str]) -> tuple[Scope, bytes]:
    """The scope and body of a JSON POST of ``payload`` to ``path``, as a server would pass them."""
    body = json.dumps(payload).encode()
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
             "server": ("helpdesk", 80),
             "headers": [(b"host", b"helpdesk"), (b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode()),
                         *((k.lower().encode(), v.encode()) for k, v in headers.items())]}
    return scope, body


async def asgi_post(app: Any, scope: Scope, body: bytes) -> tuple[int, bytes]:
    """Send a request (:func:`asgi_request`) to ``app`` in process: (status, body)."""
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    status, chunks = 0, []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.Event().wait()  # no disconnect while the app answers
        raise AssertionError("unreachable")

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


ROWS = ("store apply", "HTTP fire", "HTTP no-op", "ASGI fire", "ASGI no-op")


async def clients_of(store: AsyncStoreBase, typical: Ticket,
                     stack: AsyncExitStack) -> dict[str, Prepare]:
    """Each row's client, built once per store (the apps and httpx clients stay open)."""
    def direct(ticket_id: str, trigger: str, payload: dict[str, str]) -> Call:
        async def call() -> None:
            await store.apply(ticket_id, trigger, actor=AGENT, **payload)
        return call

    def over_asgi(app: Any) -> Prepare:
        def prepare(ticket_id: str, trigger: str, payload: dict[str, str]) -> Call:
            scope, body = asgi_request(f"/tickets/{ticket_id}/fire/{trigger}", payload, HEADERS)

            async def call() -> None:
                status, answer = await asgi_post(app, scope, body)
                if status != 200:
                    raise AssertionError(answer)
            return call
        return prepare

    async def over_http(app: Any) -> Prepare:
        http = await stack.enter_async_context(httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://helpdesk"))

        def prepare(ticket_id: str, trigger: str, payload: dict[str, str]) -> Call:
            request = http.build_request("POST", f"/tickets/{ticket_id}/fire/{trigger}",
                                         json=payload, headers=HEADERS)

            async def call() -> None:
                answer = await http.send(request)
                if answer.status_code != 200:
                    raise AssertionError(answer.text)
            return call
        return prepare

    service = create_app(store)
    idle = create_app(NoStore(store.machine, typical))  # type: ignore[arg-type]
    return {"store apply": direct, "HTTP fire": await over_http(service),
            "HTTP no-op": await over_http(idle), "ASGI fire": over_asgi(service),
            "ASGI no-op": over_asgi(idle)}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--slice", type=float, default=0.5,
                        help="seconds a row runs before the next row's turn (interleaving)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--pg-dsn", default=os.environ.get("ESCALATION_FSM_PG_DSN", ""))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        stores: dict[str, Callable[[], AsyncStoreBase]] = {
            "SQLite": lambda: AsyncSQLiteStore(Path(folder) / "service.db",
                                               machine=EscalationMachine())}
        schema = None
        if args.pg_dsn:
            import psycopg
            from psycopg.conninfo import make_conninfo

            schema = f"bench_{uuid.uuid4().hex[:10]}"
            with psycopg.connect(args.pg_dsn, autocommit=True) as admin:
                admin.execute(f"CREATE SCHEMA {schema}")  # type: ignore[arg-type]
            target = make_conninfo(args.pg_dsn, options=f"-c search_path={schema}")
            stores["PostgreSQL"] = lambda: AsyncPostgresStore(target, machine=EscalationMachine(),
                                                              pool_size=8,
                                                              pool_min_size=8)
        try:
            asyncio.run(run(stores, args))
        finally:
            if schema is not None:
                with psycopg.connect(args.pg_dsn, autocommit=True) as admin:
                    admin.execute(f"DROP SCHEMA {schema} CASCADE")  # type: ignore[arg-type]


async def run(stores: dict[str, Callable[[], AsyncStoreBase]], args: argparse.Namespace) -> None:
    slices = max(1, round(args.seconds / args.slice))
    print(f"Reference service under load ({args.seconds:g} s per row and round, in slices of "
          f"{args.seconds / slices:g} s interleaved with the other rows; medians of {args.rounds} "
          f"rounds; in-process ASGI clients, the goal judged with the minimal one, ASGI)")
    for name, make in stores.items():
        async with make() as store, AsyncExitStack() as stack:
            typical = await typical_ticket(store, f"{name}-typical")
            prepares = await clients_of(store, typical, stack)
            for clients in args.concurrency:
                p50: dict[str, list[float]] = {how: [] for how in ROWS}
                p99: dict[str, list[float]] = {how: [] for how in ROWS}
                rates: dict[str, list[float]] = {how: [] for how in ROWS}
                cpu: dict[str, list[float]] = {how: [] for how in ROWS}
                load = os.getloadavg()[0]
                for round_ in range(args.rounds):
                    latencies: dict[str, list[float]] = {how: [] for how in ROWS}
                    spent = dict.fromkeys(ROWS, 0.0)
                    cpu_spent = dict.fromkeys(ROWS, 0.0)
                    for slice_ in range(slices):
                        order = ROWS if (round_ * slices + slice_) % 2 == 0 else ROWS[::-1]
                        for how in order:
                            began, cpu_began = time.perf_counter(), time.process_time()
                            _, found = await drive(
                                prepares[how], store, clients, args.seconds / slices,
                                f"{name}-{clients}-{round_}-{slice_}-{how.replace(' ', '_')}",
                                writes=not how.endswith("no-op"))
                            spent[how] += time.perf_counter() - began
                            cpu_spent[how] += time.process_time() - cpu_began
                            latencies[how] += found
                    for how in ROWS:
                        rates[how].append(len(latencies[how]) / spent[how])
                        cpu[how].append(cpu_spent[how] * 1000 / len(latencies[how]))
                        p50[how].append(percentile(latencies[how], 0.50))
                        p99[how].append(percentile(latencies[how], 0.99))
                print(f"\n{name}, {clients} client(s) (load average {load:.2f} at the start, "
                      f"{os.getloadavg()[0]:.2f} at the end)")
                for how in ROWS:
                    print(f"  {statistics.median(rates[how]):8.0f} /s   p50 "
                          f"{statistics.median(p50[how]):7.2f} ms   p99 "
                          f"{statistics.median(p99[how]):7.2f} ms   CPU "
                          f"{statistics.median(cpu[how]):6.2f} ms/request   {how}")
                for client in ("HTTP", "ASGI"):
                    fire, noop = f"{client} fire", f"{client} no-op"
                    ratio = statistics.median(p50[fire]) / statistics.median(p50["store apply"])
                    ratios = [f / a for f, a in zip(p50[fire], p50["store apply"], strict=True)]
                    judged = "the goal" if client == "ASGI" else "for reference"
                    print(f"  {ratio:8.2f}x  p50 of a fire request / p50 of a store apply, {client} "
                          f"client, {judged} (at most 1.5; per-round median "
                          f"{statistics.median(ratios):.2f}x; CPU "
                          f"{statistics.median(cpu[fire]) / statistics.median(cpu['store apply']):.2f}x)")
                    print(f"  {statistics.median(p50[noop]):8.2f} ms of it is the {client} client, "
                          f"the framework and the route (the no-op row: the app over a store "
                          f"that does nothing)")


if __name__ == "__main__":
    main()
