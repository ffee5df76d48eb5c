"""The default procedure with every stage, trigger and guard renamed, plus a Tier 3 escalation.

The library may read only marks, never names (DESIGN rule 14). These specs are the proof: a
helpdesk that calls its stages ``logged``/``first_line``/``second_line`` and its triggers
``pick_up``/``to_tier2``/``close_out`` must get the same SLA deadlines, replay results and
property-test verdicts as the default procedure on the same histories, names aside.

* :func:`renamed_spec`: the default procedure, renamed, with ``third_line`` (Tier 3) reached by
  ``to_tier3`` (marked ``escalate``, with its own guard) and left by ``close_out``;
* :func:`renamed_logged_spec`: the logged procedure (what replay uses), renamed the same way;
* :func:`translate` maps any name of the default specs to its renamed twin (others unchanged), so
  histories, mappings and results can be compared across the two.
"""

from __future__ import annotations

from functools import cache

from escalation_fsm import (
    AuditRecord,
    GuardSpec,
    MachineSpec,
    Mark,
    Role,
    StageSpec,
    Ticket,
    TransitionSpec,
    TriggerSpec,
    default_spec,
    spec_fingerprint,
)
from escalation_fsm.procedure import logged_procedure_spec

STAGES = {"identified": "logged", "attempted": "first_line", "escalated": "second_line",
          "resolved": "fixed", "feedback": "rated", "waiting": "on_hold",
          "waiting_tier2": "on_hold_second_line", "closed": "archived"}
TRIGGERS = {"attempt": "pick_up", "record_step": "note_step", "escalate": "to_tier2",
            "notify_customer": "inform_customer", "follow_up": "tier2_news", "resolve": "close_out",
            "request_feedback": "ask_rating", "record_feedback": "store_rating", "reopen": "revive",
            "classify": "triage", "wait": "park", "close": "archive",
            "record_interaction": "log_contact"}
GUARDS = {name: f"rule_{n}" for n, name in enumerate(
    ["has_category", "has_details", "has_steps", "has_summary", "escalation_warranted",
     "customer_notified", "has_solution", "has_step_text", "has_message", "has_update",
     "has_customer_message", "has_reopen_reason", "has_interaction_summary"], start=1)}
NAMES = {**STAGES, **TRIGGERS, **GUARDS}


def translate(name: str) -> str:
    """The renamed twin of a default name (any other name unchanged)."""
    return NAMES.get(name, name)


def _renamed(spec: MachineSpec, name: str) -> MachineSpec:
    return MachineSpec(
        name=name, description=f"{spec.description} (renamed)",
        stages=tuple(s.model_copy(update={"name": translate(s.name)}) for s in spec.stages),
        triggers=tuple(t.model_copy(update={"name": translate(t.name)}) for t in spec.triggers),
        guards=tuple(g.model_copy(update={"name": translate(g.name)}) for g in spec.guards),
        transitions=tuple(t.model_copy(update={
            "trigger": translate(t.trigger), "source": translate(t.source),
            "dest": None if t.dest is None else translate(t.dest),
            "guards": tuple(translate(g) for g in t.guards)}) for t in spec.transitions),
    )


TIER3 = "tier3"


@cache
def renamed_spec() -> MachineSpec:
    """The default procedure renamed, plus Tier 3 (``third_line``, reached by ``to_tier3``)."""
    base = _renamed(default_spec(), "renamed-escalation")
    inform, news = base.trigger("inform_customer"), base.trigger("tier2_news")
    return base.extend(
        stages=[StageSpec(name="third_line", description="With Tier 3 engineering.")],
        triggers=[TriggerSpec(name="to_tier3", payload=base.trigger("to_tier2").payload,
                              marks={Mark.ESCALATE},
                              description="Hand the ticket on to Tier 3 engineering.")],
        guards=[GuardSpec(name="rule_tier3_summary", requirement="a Tier 3 summary is given",
                          check=base.guard("rule_4").check, reads=frozenset({"summary"}))],
        transitions=[
            TransitionSpec(trigger="to_tier3", source="second_line", dest="third_line",
                           roles={Role.TIER2}, guards=("rule_tier3_summary", "rule_6")),
            TransitionSpec(trigger=inform.name, source="third_line", roles={TIER3, Role.SYSTEM},
                           guards=("rule_9",)),
            TransitionSpec(trigger=news.name, source="third_line", roles={TIER3, Role.SYSTEM},
                           guards=("rule_10", "rule_11")),
            TransitionSpec(trigger="close_out", source="third_line", dest="fixed",
                           roles={TIER3, Role.SUPERVISOR}, guards=("rule_7",)),
        ],
    )


@cache
def renamed_logged_spec() -> MachineSpec:
    """The logged procedure (what replays run), renamed."""
    return _renamed(logged_procedure_spec(), "renamed-escalation-as-logged")


def translated_fingerprint(fingerprint: str | None) -> str | None:
    """The fingerprint of a default spec's renamed twin (others unchanged)."""
    twins = {spec_fingerprint(default_spec()): spec_fingerprint(renamed_spec()),
             spec_fingerprint(logged_procedure_spec()): spec_fingerprint(renamed_logged_spec())}
    return twins.get(fingerprint, fingerprint) if fingerprint is not None else None


def translated_record(record: AuditRecord) -> AuditRecord:
    """A default-spec audit record as the renamed procedure would have written it."""
    return record.model_copy(update={"trigger": translate(record.trigger),
                                     "source": translate(record.source),
                                     "dest": translate(record.dest),
                                     "spec_fingerprint": translated_fingerprint(
                                         record.spec_fingerprint)})


def translated_ticket(ticket: Ticket) -> Ticket:
    """A default-spec ticket (stage and history) as the renamed procedure would hold it."""
    return ticket.model_copy(update={"stage": translate(ticket.stage),
                                     "history": tuple(translated_record(r) for r in ticket.history)})
