"""The pydantic data: enums, tickets as JSON-round-trippable frozen values."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

import pytest
from pydantic import ValidationError
from support import AGENT

from escalation_fsm import (
    Assessment,
    AuditRecord,
    Category,
    Level,
    Role,
    Stage,
    Ticket,
    Trigger,
    Urgency,
)


@pytest.mark.parametrize("enum", [Stage, Trigger, Category, Role, Level, Urgency])
def test_enums_are_strenums_named_after_their_values(enum: type[StrEnum]) -> None:
    """Enum members are StrEnums whose str() is the value and whose name is the upper-cased value."""
    for member in enum:
        assert str(member) == member.value
        assert member.name == member.value.upper()


def test_enum_values_match_the_procedure() -> None:
    """The default stages, categories and roles are the ones the issue names."""
    assert [s.value for s in Stage] == ["identified", "attempted", "escalated", "resolved", "feedback"]
    assert {c.value for c in Category} == {"billing", "technical", "account_access", "other"}
    assert {"agent", "tier2", "supervisor", "customer", "system"} <= {r.value for r in Role}


def test_assessment_accepts_strings_and_rejects_unknown_levels() -> None:
    """Assessment levels may be given as strings; anything else names what is allowed."""
    a = Assessment(complexity="high", frustration="medium", urgency="critical")
    assert a.urgency is Urgency.CRITICAL
    with pytest.raises(ValidationError, match="'low', 'medium' or 'high'"):
        Assessment(complexity="extreme", frustration="low", urgency="low")
    with pytest.raises(ValidationError, match="urgency"):
        Assessment(complexity="low", frustration="low", urgency="medium")


def test_level_ordering() -> None:
    """Thresholds rely on these orders."""
    assert [lvl.rank for lvl in Level] == [0, 1, 2]
    assert Urgency.CRITICAL.rank > Urgency.HIGH.rank > Urgency.NORMAL.rank > Urgency.LOW.rank


def test_new_ticket_defaults() -> None:
    """A new ticket is identified, tier 1, with an empty history at version 0."""
    t = Ticket(id="T-1", customer_id="C-1", category=Category.BILLING, details="x")
    assert t.stage == Stage.IDENTIFIED
    assert type(t.stage) is str  # enum members are stored as plain values
    assert (t.tier, t.version, t.history, t.tags) == (1, 0, (), ())


def test_ticket_is_frozen() -> None:
    """Tickets are values: assigning to a field fails."""
    t = Ticket(id="T-1", customer_id="C-1")
    with pytest.raises(ValidationError, match="frozen"):
        t.stage = "resolved"  # type: ignore[misc]


def test_ticket_rejects_unknown_fields_and_empty_ids() -> None:
    """Typos in field names and blank ids are refused, not ignored."""
    with pytest.raises(ValidationError, match="extra"):
        Ticket(id="T-1", customer_id="C-1", categroy="billing")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="id"):
        Ticket(id="  ", customer_id="C-1")


def _record(seq: int) -> AuditRecord:
    return AuditRecord(seq=seq, at=datetime(2026, 1, 1, tzinfo=UTC), actor_id=AGENT.id,
                       actor_role=AGENT.role, trigger="attempt", source="identified",
                       dest="attempted")


def test_ticket_rejects_inconsistent_history() -> None:
    """A ticket read back with version != history length, or gaps in seq, is rejected clearly."""
    with pytest.raises(ValidationError, match="version 2 does not match its history length 1"):
        Ticket(id="T-1", customer_id="C-1", history=(_record(1),), version=2)
    with pytest.raises(ValidationError, match="without gaps"):
        Ticket(id="T-1", customer_id="C-1", history=(_record(1), _record(3)), version=2)


def test_audit_record_needs_aware_timestamp() -> None:
    """History timestamps must carry a time zone."""
    with pytest.raises(ValidationError, match="timezone"):
        AuditRecord(seq=1, at=datetime(2026, 1, 1), actor_id="a", actor_role="agent",
                    trigger="attempt", source="identified", dest="attempted")


def test_evolve_matches_model_copy() -> None:
    """The hot-path copy gives exactly what pydantic's model_copy gives, and stays frozen."""
    from escalation_fsm.models import evolve

    t = Ticket(id="T-1", customer_id="C-1", category=Category.BILLING, details="x")
    updates = {"stage": "attempted", "history": (_record(1),), "version": 1, "tier": 2}
    fast, slow = evolve(t, updates), t.model_copy(update=updates)
    assert fast == slow
    assert fast.model_fields_set == slow.model_fields_set
    assert fast.model_dump_json() == slow.model_dump_json()
    assert Ticket.model_validate_json(fast.model_dump_json()) == fast
    assert t.stage == "identified" and t.version == 0
    with pytest.raises(ValidationError, match="frozen"):
        fast.tier = 3  # type: ignore[misc]


def test_trusted_record_matches_a_validated_one() -> None:
    """The machine's unvalidated record construction equals pydantic's validated one."""
    from escalation_fsm.models import trusted

    values = _record(1).model_dump()
    fast = trusted(AuditRecord, **values)
    assert fast == AuditRecord(**values)
    assert fast.model_dump_json() == AuditRecord(**values).model_dump_json()
