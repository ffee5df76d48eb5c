"""The TicketStore contract, run against every store: memory, SQLite and a real PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from store_support import KINDS, Backend, backend
from support import AGENT, START, SYSTEM, TIER2

from escalation_fsm import (
    MAX_TEXT_LENGTH,
    Actor,
    Assessment,
    Category,
    ConcurrentUpdate,
    EscalationError,
    EscalationMachine,
    HookFailed,
    InvalidTransition,
    ManualClock,
    PermissionDenied,
    Role,
    Stage,
    Ticket,
    TicketExists,
    TicketNotFound,
    TransitionEvent,
    TransitionRefused,
    TransitionResult,
    Trigger,
)
from escalation_fsm.stores import MemoryStore, StoreBase, TicketStore

HIGH = Assessment(complexity="high", frustration="high", urgency="high")


@pytest.fixture(params=KINDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with backend(request.param, tmp_path) as found:
        yield found


@pytest.fixture
def store(db: Backend, machine: EscalationMachine) -> StoreBase:
    return db.open(machine)


def ticket(ticket_id: str = "T-1", **fields: object) -> Ticket:
    values: dict[str, object] = {"customer_id": "C-1", "category": Category.BILLING,
                                 "details": "Charged twice"}
    values.update(fields)
    return Ticket(id=ticket_id, **values)  # type: ignore[arg-type]


def escalated(store: StoreBase, ticket_id: str = "T-1") -> Ticket:
    store.create(ticket(ticket_id))
    store.apply(ticket_id, Trigger.ATTEMPT, actor=AGENT)
    store.apply(ticket_id, Trigger.RECORD_STEP, actor=AGENT, step="Checked invoices")
    return store.apply(ticket_id, Trigger.ESCALATE, actor=AGENT, summary="Double charge",
                       assessment=HIGH)


def tokens(store: StoreBase, ticket_id: str) -> list[str]:
    """Every string payload value in the ticket's history, in order."""
    return [v for r in store.history(ticket_id) for v in r.payload.values() if isinstance(v, str)]


# -- create, get, apply, history ----------------------------------------------------------------


def test_store_satisfies_the_protocol(store: StoreBase) -> None:
    """Each store is a TicketStore (the Protocol is runtime-checkable)."""
    assert isinstance(store, TicketStore)


def test_create_then_get_round_trips(store: StoreBase) -> None:
    """A created ticket reads back equal, field for field."""
    created = store.create(ticket(tags=("vip",), priority="high"))
    assert store.get("T-1") == created
    assert store.history("T-1") == ()


def test_create_keeps_an_existing_history(store: StoreBase, machine: EscalationMachine) -> None:
    """A ticket that already went through transitions is imported with its whole history."""
    t = machine.fire(ticket(), Trigger.ATTEMPT, actor=AGENT)
    t = machine.fire(t, Trigger.RECORD_STEP, actor=AGENT, step="KB-1")
    t = machine.fire(t, Trigger.ESCALATE, actor=AGENT, summary="s", assessment=HIGH)
    t = machine.fire(t, Trigger.NOTIFY_CUSTOMER, actor=AGENT, message="m", eta=timedelta(hours=4))
    store.create(t)
    assert store.get("T-1") == t
    assert store.history("T-1") == t.history


def test_create_refuses_a_taken_id(store: StoreBase) -> None:
    """A second ticket with the same id is refused and the first is untouched."""
    first = store.create(ticket())
    with pytest.raises(TicketExists, match="T-1") as caught:
        store.create(ticket(details="another"))
    assert isinstance(caught.value, ValueError)
    assert caught.value.ticket_id == "T-1"
    assert store.get("T-1") == first


def test_unknown_ids_raise_ticket_not_found(store: StoreBase) -> None:
    """get, apply and history on an unknown id raise the typed not-found error (also a KeyError)."""
    for call in (lambda: store.get("nope"), lambda: store.history("nope"),
                 lambda: store.apply("nope", Trigger.ATTEMPT, actor=AGENT)):
        with pytest.raises(TicketNotFound) as caught:
            call()
        assert isinstance(caught.value, KeyError)
        assert isinstance(caught.value, EscalationError)
        assert caught.value.ticket_id == "nope"
        assert str(caught.value) == "ticket 'nope' is not in the store"


def test_apply_saves_and_returns_the_new_ticket(store: StoreBase, db: Backend) -> None:
    """apply returns what fire would, and a fresh handle reads the same ticket back."""
    t = escalated(store)
    assert t.stage == Stage.ESCALATED
    assert t.version == 3
    assert t.tier == 2
    assert db.open().get("T-1") == t
    assert [r.trigger for r in store.history("T-1")] == ["attempt", "record_step", "escalate"]
    assert store.stats.commits == 3
    assert store.stats.conflicts == 0


def test_refused_and_invalid_transitions_write_nothing(store: StoreBase) -> None:
    """Every kind of refusal leaves the stored ticket and its history exactly as they were."""
    store.create(ticket())
    before = store.apply("T-1", Trigger.ATTEMPT, actor=AGENT)
    attempts = [
        (InvalidTransition, Trigger.REQUEST_FEEDBACK, AGENT, {}),
        (PermissionDenied, Trigger.RESOLVE, Actor(id="c", role=Role.CUSTOMER), {"solution": "x"}),
        (ValidationError, Trigger.RECORD_STEP, AGENT, {"step": 12}),
        (TransitionRefused, Trigger.ESCALATE, AGENT, {"summary": ""}),
        (InvalidTransition, "no_such_trigger", AGENT, {}),
    ]
    for error, trigger, actor, payload in attempts:
        with pytest.raises(error):
            store.apply("T-1", trigger, actor=actor, **payload)
        assert store.get("T-1") == before
    assert store.stats.commits == 1


def test_a_vetoing_before_hook_writes_nothing(db: Backend, machine: EscalationMachine) -> None:
    """A before-hook that raises vetoes the transition: HookFailed('before'), nothing stored."""
    @machine.before(Trigger.RESOLVE)
    def veto(event: TransitionEvent) -> None:
        raise RuntimeError("billing system down")

    store = db.open(machine)
    store.create(ticket())
    before = store.apply("T-1", Trigger.ATTEMPT, actor=AGENT)
    with pytest.raises(HookFailed) as caught:
        store.apply("T-1", Trigger.RESOLVE, actor=AGENT, solution="Refunded")
    assert caught.value.phase == "before"
    assert store.get("T-1") == before


def test_after_hooks_run_once_after_the_commit(db: Backend, machine: EscalationMachine) -> None:
    """After- and enter-hooks run exactly once and already see the transition committed."""
    seen: list[tuple[str, int, int]] = []
    observer = db.open()

    @machine.after()
    def after(event: TransitionEvent) -> None:
        seen.append((event.trigger, event.after.version, observer.get(event.after.id).version))

    @machine.on_enter(Stage.ATTEMPTED)
    def entered(event: TransitionEvent) -> None:
        seen.append(("enter", event.before.version, event.record.seq))

    store = db.open(machine)
    store.create(ticket())
    store.apply("T-1", Trigger.ATTEMPT, actor=AGENT)
    store.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="KB")
    assert seen == [("enter", 0, 1), ("attempt", 1, 1), ("record_step", 2, 2)]


def test_a_failing_after_hook_keeps_the_commit_and_surfaces(db: Backend,
                                                           machine: EscalationMachine) -> None:
    """HookFailed('after') is raised, and the transition it reports is saved (never lost)."""
    calls: list[str] = []

    @machine.after(Trigger.ATTEMPT)
    def page(event: TransitionEvent) -> None:
        calls.append(event.after.id)
        raise ConnectionError("pager unreachable")

    store = db.open(machine)
    store.create(ticket())
    with pytest.raises(HookFailed) as caught:
        store.apply("T-1", Trigger.ATTEMPT, actor=AGENT)
    failed = caught.value
    assert failed.phase == "after"
    assert isinstance(failed.__cause__, ConnectionError)
    assert isinstance(failed.ticket, Ticket)
    assert failed.ticket.stage == Stage.ATTEMPTED
    assert store.get("T-1") == failed.ticket
    assert calls == ["T-1"]


def test_a_store_fires_through_its_machine_subclass_too(db: Backend) -> None:
    """A host's subclass overriding the machine's transition phase applies to stores too."""
    class Audited(EscalationMachine):
        fired: list[str]

        def transition(self, ticket: Ticket, trigger: str, *, actor: Actor,
                       **payload: object) -> TransitionResult:
            self.fired.append(trigger)
            return super().transition(ticket, trigger, actor=actor, **payload)

    machine = Audited()
    machine.fired = []
    store = db.open(machine)
    store.create(ticket())
    store.apply("T-1", Trigger.ATTEMPT, actor=AGENT)
    assert machine.fired == ["attempt"]


# -- optimistic concurrency ---------------------------------------------------------------------


def _interfere_once(db: Backend, machine: EscalationMachine, trigger: str, actor: Actor,
                    **payload: object) -> list[int]:
    """Make another writer commit ``trigger`` between this store's read and its swap, once."""
    other = db.open(EscalationMachine(clock=ManualClock(START)))
    calls: list[int] = []

    @machine.before()
    def race(event: TransitionEvent) -> None:
        calls.append(event.before.version)
        if len(calls) == 1:
            other.apply(event.before.id, trigger, actor=actor, **payload)

    return calls


def test_a_lost_race_raises_concurrent_update_and_writes_nothing(db: Backend,
                                                               machine: EscalationMachine) -> None:
    """With one attempt allowed, the loser raises ConcurrentUpdate; only the winner is stored."""
    _interfere_once(db, machine, Trigger.RECORD_STEP, AGENT, step="winner")
    store = db.open(machine, max_attempts=1)
    setup = db.open()
    setup.create(ticket())
    setup.apply("T-1", Trigger.ATTEMPT, actor=AGENT)
    with pytest.raises(ConcurrentUpdate) as caught:
        store.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="loser")
    lost = caught.value
    assert (lost.ticket_id, lost.trigger, lost.expected_version, lost.attempts) == (
        "T-1", "record_step", 1, 1)
    assert isinstance(lost, RuntimeError)
    assert tokens(store, "T-1") == ["winner"]
    assert store.get("T-1").version == 2
    assert (store.stats.commits, store.stats.conflicts, store.stats.gave_up) == (0, 1, 1)


def test_a_lost_race_is_retried_on_a_fresh_read(db: Backend, machine: EscalationMachine) -> None:
    """The retry re-reads, fires again on top of the winner, and both transitions are kept once."""
    setup = db.open()
    setup.create(ticket())
    setup.apply("T-1", Trigger.ATTEMPT, actor=AGENT)
    calls = _interfere_once(db, machine, Trigger.RECORD_STEP, AGENT, step="first")
    store = db.open(machine, max_attempts=3)
    new = store.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="second")
    assert calls == [1, 2]  # fired on version 1, lost, fired again on version 2
    assert new.version == 3
    assert tokens(store, "T-1") == ["first", "second"]
    assert store.get("T-1") == new
    assert (store.stats.commits, store.stats.conflicts, store.stats.gave_up) == (1, 1, 0)


def test_a_retry_reevaluates_the_rules_on_the_fresh_state(db: Backend,
                                                         machine: EscalationMachine) -> None:
    """A ticket another worker resolved meanwhile is not escalated by the retry."""
    setup = db.open()
    setup.create(ticket())
    setup.apply("T-1", Trigger.ATTEMPT, actor=AGENT)
    setup.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step="KB")
    _interfere_once(db, machine, Trigger.RESOLVE, AGENT, solution="fixed by a colleague")
    store = db.open(machine)
    with pytest.raises(InvalidTransition) as caught:
        store.apply("T-1", Trigger.ESCALATE, actor=AGENT, summary="s", assessment=HIGH)
    assert caught.value.stage == Stage.RESOLVED
    final = store.get("T-1")
    assert final.stage == Stage.RESOLVED
    assert final.escalation is None
    assert final.version == 3


def test_max_attempts_must_be_positive() -> None:
    """A store that may never try is a configuration error."""
    with pytest.raises(ValueError, match="max_attempts"):
        MemoryStore(max_attempts=0)


# -- queries and streaming ----------------------------------------------------------------------


def _population(store: StoreBase, clock: ManualClock) -> None:
    # The clock ticks a minute per reading: creating a ticket reads it once, each transition once.
    store.create(ticket("A", category=Category.BILLING))                      # created at 09:00
    escalated(store, "B")                                                    # 09:01 .. 09:04
    store.create(ticket("C", category=Category.TECHNICAL))                    # 09:05
    store.apply("C", Trigger.ATTEMPT, actor=AGENT)                            # 09:06
    clock.set(START + timedelta(hours=2, minutes=7))
    store.create(ticket("D", category=Category.TECHNICAL))                    # 11:07
    escalated(store, "E")                                                    # 11:08 .. 11:11
    store.apply("E", Trigger.NOTIFY_CUSTOMER, actor=SYSTEM, message="On it")  # 11:12
    store.apply("E", Trigger.RESOLVE, actor=TIER2, solution="Fixed")          # 11:13


def test_query_filters_by_stage_category_tier_and_update_time(store: StoreBase,
                                                              clock: ManualClock) -> None:
    """What a follow-up worker and a trend review ask, least recently updated first."""
    _population(store, clock)

    def ids(**filters: object) -> list[str]:
        return [t.id for t in store.query(**filters)]  # type: ignore[arg-type]

    assert ids() == ["A", "B", "C", "D", "E"]
    assert ids(stage=Stage.ESCALATED) == ["B"]
    assert ids(stage="identified") == ["A", "D"]
    assert ids(category=Category.TECHNICAL) == ["C", "D"]
    assert ids(category="billing", tier=2) == ["B", "E"]
    assert ids(tier=1) == ["A", "C", "D"]
    cutoff = START + timedelta(hours=1)
    assert ids(updated_before=cutoff) == ["A", "B", "C"]                   # stale tickets
    assert ids(updated_since=cutoff) == ["D", "E"]
    assert ids(stage=Stage.ESCALATED, updated_before=cutoff) == ["B"]    # escalated, no news
    # since is inclusive (B, updated at 09:04), before is exclusive (C, updated at 09:06):
    minute = timedelta(minutes=1)
    assert ids(updated_since=START + 4 * minute, updated_before=START + 6 * minute) == ["B"]
    assert ids(updated_since=START + 5 * minute, updated_before=START + 7 * minute) == ["C"]
    assert ids(limit=2) == ["A", "B"]
    assert ids(limit=0) == []
    assert store.query(stage=Stage.RESOLVED)[0] == store.get("E")        # full tickets


def test_query_rejects_naive_times_and_negative_limits(store: StoreBase) -> None:
    """A naive datetime would compare wrongly against stored UTC times, so it is refused."""
    with pytest.raises(ValueError, match="timezone-aware"):
        store.query(updated_before=START.replace(tzinfo=None))
    with pytest.raises(ValueError, match="limit"):
        store.query(limit=-1)
    with pytest.raises(ValueError, match="category='groceries' is not allowed: one of billing"):
        store.query(category="groceries")


def test_stream_yields_every_ticket_in_id_order_across_batches(store: StoreBase) -> None:
    """Batches join seamlessly; ids sort by code point in every store."""
    ids = ["b", "a", "Z", "é", "ß", "T-10", "T-9", "日本"]
    for ticket_id in ids:
        store.create(ticket(ticket_id))
    store.apply("a", Trigger.ATTEMPT, actor=AGENT)
    for size in (1, 3, 8, 500):
        streamed = list(store.stream(batch_size=size))
        assert [t.id for t in streamed] == sorted(ids)
        assert streamed == [store.get(i) for i in sorted(ids)]
    assert list(db_empty_stream(store)) == []
    with pytest.raises(ValueError, match="batch_size"):
        next(store.stream(batch_size=0))


def db_empty_stream(store: StoreBase) -> Iterator[Ticket]:
    """A stream that starts after the last id is empty (keyset pagination's end)."""
    return iter(store._page("\U0010ffff", 10).tickets)


def test_a_reopened_store_sees_everything(db: Backend, machine: EscalationMachine) -> None:
    """Tickets and histories survive closing every handle and opening a new one."""
    first = db.open(machine)
    t = escalated(first, "T-1")
    first.close()
    first.close()  # closing twice is harmless
    again = db.open()
    assert again.get("T-1") == t
    assert [x.id for x in again.stream()] == ["T-1"]


def test_many_tickets_read_back_right_past_what_a_store_remembers(store: StoreBase) -> None:
    """A store remembers only its latest 256 tickets; older ones are simply read again."""
    created = [store.create(ticket(f"T-{n:03}")) for n in range(260)]
    assert [store.get(t.id) for t in created] == created       # fills and overflows the memory
    moved = store.apply("T-000", Trigger.ATTEMPT, actor=AGENT)  # forgotten by now: read afresh
    assert store.get("T-000") == moved
    assert list(store.stream()) == [moved, *created[1:]]


# -- hostile input ------------------------------------------------------------------------------

HOSTILE = [
    "'; DROP TABLE escalation_tickets; --",
    "\" OR 1=1 --",
    "%s %(x)s ? :name $1 \\x00 \\",
    "Robert'); DELETE FROM escalation_history;--",
    "e\u0301 \u202eRTL\u202c \ufeffBOM \U0001f469\u200d\U0001f4bb \u2028line\u2029 \ufffd \uffff",
    "NUL:\x00:end",
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_text_round_trips_in_every_field_and_injects_nothing(store: StoreBase, text: str) -> None:
    """SQL metacharacters and unusual Unicode come back unchanged; every table survives."""
    name = text.replace("\x00", "0")  # ids hold no control characters (NUL, ...), texts may
    ticket_id = "T " + name
    actor = Actor(id="a " + name, role=Role.AGENT)
    store.create(ticket(ticket_id, customer_id="C " + name, details=text, tags=(text,)))
    store.apply(ticket_id, Trigger.ATTEMPT, actor=actor)
    store.apply(ticket_id, Trigger.RECORD_STEP, actor=actor, step=text)
    store.apply(ticket_id, Trigger.ESCALATE, actor=actor, summary=text, assessment=HIGH)
    final = store.apply(ticket_id, Trigger.NOTIFY_CUSTOMER, actor=actor, message=text)
    assert store.get(ticket_id) == final
    assert final.details == text
    assert final.steps[0].text == text.strip()
    assert final.history[-1].actor_id == "a " + name
    assert [t.id for t in store.stream()] == [ticket_id]
    assert [t.id for t in store.query(stage=Stage.ESCALATED)] == [ticket_id]


def test_texts_up_to_the_limit_round_trip(store: StoreBase) -> None:
    """Texts of MAX_TEXT_LENGTH characters (multi-byte ones too) are stored and read back whole."""
    huge = "x" * (MAX_TEXT_LENGTH - 10_000) + "\u00e9" * 10_000
    store.create(ticket(details=huge))
    store.apply("T-1", Trigger.ATTEMPT, actor=AGENT)
    final = store.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step=huge)
    again = store.get("T-1")
    assert again == final
    assert again.steps[0].text == huge
    assert again.details == huge


def test_a_text_beyond_the_limit_is_refused_and_nothing_is_written(store: StoreBase) -> None:
    """Issue 15 (5): one text over MAX_TEXT_LENGTH is a ValidationError naming the field and the
    limit, in a payload as in a ticket; the store is left as it was."""
    store.create(ticket())
    store.apply("T-1", Trigger.ATTEMPT, actor=AGENT)
    too_long = "x" * (MAX_TEXT_LENGTH + 1)
    with pytest.raises(ValidationError, match=rf"step\n.*at most {MAX_TEXT_LENGTH} characters"):
        store.apply("T-1", Trigger.RECORD_STEP, actor=AGENT, step=too_long)
    with pytest.raises(ValidationError, match=rf"details\n.*at most {MAX_TEXT_LENGTH} characters"):
        store.create(ticket("T-2", details=too_long))
    assert store.get("T-1").version == 1
    assert [t.id for t in store.stream()] == ["T-1"]


# -- the optional PostgreSQL extra --------------------------------------------------------------


def test_postgres_store_names_the_extra_when_psycopg_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without psycopg, using PostgresStore says which extra to install."""
    from escalation_fsm.stores import PostgresStore

    monkeypatch.setitem(sys.modules, "psycopg", None)  # makes `import psycopg` raise ImportError
    with pytest.raises(ImportError, match=r"escalation-fsm\[postgres\]"):
        PostgresStore("postgresql://nowhere")


def test_the_package_imports_without_psycopg() -> None:
    """`import escalation_fsm.stores` never needs the optional extra."""
    code = ("import sys; sys.modules['psycopg'] = None; import escalation_fsm, escalation_fsm.stores; "
            "s = escalation_fsm.stores.SQLiteStore(':memory:'); s.close(); print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
