"""Mapping files: how a helpdesk's event log maps onto a spec's triggers.

A mapping is TOML (standard-library ``tomllib``), validated by pydantic; every problem is reported
at once with the line and key it concerns. See ``docs/replay.md`` for the format, key by key, and
the shipped mappings (:func:`~.shipped.shipped_mapping`) for complete examples.

A trigger is named in a mapping by its name in the spec or by a *mark* (``escalate``,
``reopen``, ``resolve``... or explicitly ``mark:escalate``): a mark stands for every trigger that
carries it, the first one defined from the ticket's current stage being fired. So a mapping
written with marks works unchanged on a renamed or extended procedure.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from ..marks import Mark
from ..models import Urgency
from ..spec import MachineSpec
from .errors import MappingError
from .locate import locate
from .specs import observable_guards

__all__ = ["ACTIVITY", "Columns", "Condition", "LogMapping", "Rule", "Sequence", "load_mapping",
           "parse_mapping"]

TriggerChoice = str | list[str]
"""One trigger (a name or a mark), or ordered alternatives: the first one the spec defines from
the ticket's current stage is fired (e.g. "taken in charge" is ``attempt``, or ``reopen`` once
resolved)."""

ACTIVITY = "activity"
"""The name that stands for the row's own activity trigger(s) in a mapping's ``order``."""

MARK_PREFIX = "mark:"
_URGENCIES = frozenset(u.value for u in Urgency)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Columns(_Model):
    """Which column holds what. Only ``case``, ``activity`` and ``timestamp`` are required."""

    case: str
    activity: str
    timestamp: str
    timestamp_format: str = "iso"
    """``iso`` (ISO 8601, with or without offset) or a ``strptime`` format such as ``%d/%m/%Y %H:%M``."""
    timezone: str = "UTC"
    """Zone for timestamps without an offset (an IANA name, or ``UTC``)."""
    order: str | None = None
    """Column ordering the events of a case (default: the timestamp); integers sort numerically."""
    resource: str | None = None
    category: str | None = None
    priority: str | None = None
    activity_changes_only: bool = False
    """For state-snapshot logs (one row per modification): a row whose activity equals the previous
    row's does not fire the activity's trigger again (rules are still evaluated)."""


class Sequence(_Model):
    """An activity that yields several triggers in a row, in this order (``{sequence = [...]}``)."""

    sequence: Annotated[tuple[TriggerChoice, ...], Field(min_length=1)]


class Rule(_Model):
    """A trigger fired because of a column's value, e.g. an escalation when the support level rises.

    ``op``: ``equals`` (the cell's text is ``value``), ``changed``, ``increased`` or ``decreased``
    (compared with the previous *readable* value of the column in the case, or ``baseline`` on
    the first row). A column with a rank map in ``[values]`` is compared by rank; otherwise
    ``increased``/``decreased`` read numbers and ``changed`` compares the text. An empty cell is
    not compared and keeps the previous value; a value that cannot be read is counted in the
    report's data notes and not compared either.
    """

    name: str | None = None
    """How ``order`` and the report refer to the rule (default: ``"<column> <op>"``)."""
    column: str
    op: Literal["equals", "changed", "increased", "decreased"]
    value: str | None = None
    baseline: float | str | None = None
    """The value before a case's first row (a number, or a label of the column's rank map): the
    first row is then compared with it. Without it the first row only sets the reference."""
    activity: str | tuple[str, ...] | None = None
    """Only rows with this activity, or one of these (any row when omitted)."""
    trigger: TriggerChoice
    position: Literal["instead", "before", "after"] = "instead"
    """Without ``order``: ``instead`` of the activity's trigger, or fired ``before`` / ``after`` it."""
    drop_activity: bool | tuple[str, ...] | None = None
    """When the rule fires, the row's activity fires nothing: ``true``, or only for these
    activities. Default: true for ``position = "instead"`` (false when the mapping has ``order``,
    where ``position`` is not used)."""

    @property
    def label(self) -> str:
        """The rule's name (given, or derived from its column and operation)."""
        if self.name is not None:
            return self.name
        return f"{self.column} {self.op}" + (f" {self.value}" if self.op == "equals" else "")

    def drops(self, activity: str) -> bool:
        """Whether firing this rule drops the trigger of a row with ``activity``."""
        drop = self.drop_activity
        if drop is None:
            return self.position == "instead"
        return drop if isinstance(drop, bool) else activity in drop

    def applies_to(self, activity: str) -> bool:
        """Whether the rule is evaluated on rows with ``activity``."""
        only = self.activity
        return only is None or (activity == only if isinstance(only, str) else activity in only)


Condition = Rule
"""The older name of :class:`Rule` (``[[conditions]]`` in a mapping file)."""


class LogMapping(_Model):
    """A validated mapping file. Build one with :func:`load_mapping` or :func:`shipped_mapping`."""

    format_version: Literal[1] = 1
    name: str
    description: str = ""
    spec: str = "logged"
    """``default``, ``logged`` or ``module:attribute`` (see :func:`escalation_fsm.loader.load_spec`;
    the module is imported from the current folder first, then from installed packages)."""
    delimiter: Annotated[str, Field(min_length=1, max_length=1)] = ","
    encoding: str = "utf-8"
    member: str | None = None
    """The CSV inside a ``.zip`` (default: its only ``.csv``)."""
    missing: tuple[str, ...] = ("", "?")
    """Cell values that mean "no value"."""
    grouped: bool = True
    """The rows of a case are contiguous (streamed, memory bounded); false loads the whole log."""
    on_unknown: Literal["error", "skip"] = "error"
    """An activity neither in ``activities`` nor in ``ignore``: stop with an error, or skip the
    event (skipped activities are counted in the report)."""
    require_final: bool = True
    """A case not ending in a final stage is reported ``open`` (not fitting yet, not deviating)."""
    columns: Columns
    activities: dict[str, TriggerChoice | Sequence]
    ignore: tuple[str, ...] = ()
    """Activities that are recorded but fire nothing."""
    values: dict[str, dict[str, float | str]] = Field(default_factory=dict)
    """Value maps per column: label -> rank (numbers: the column is compared by rank), or label ->
    label (the category or priority to report; a priority maps to an urgency)."""
    rules: tuple[Rule, ...] = ()
    conditions: tuple[Rule, ...] = ()
    """The older name of ``rules``; both may be given (``rules`` come first)."""
    order: tuple[str, ...] | None = None
    """The order of the events one row yields: rule names and ``"activity"`` (the row's own
    trigger(s)). Every rule must be listed. Without it: ``before`` rules, the activity, ``after``
    rules, in file order."""
    observable_guards: tuple[str, ...] | None = None
    """Guards the log can show. Default: those whose declared reads the log provides (no
    payload; the stage, tier and history, and the category when a category column is declared);
    see :func:`~escalation_fsm.replay.specs.observable_guards`."""
    roles: dict[str, str] = Field(default_factory=dict)
    """Resource -> role; when given, role rules are checked (unlisted resources: ``default_role``)."""
    default_role: str | None = None
    interactions: dict[str, Literal["inbound", "outbound"]] = Field(default_factory=dict)
    """Activity -> the direction of the customer interaction it records: ``inbound`` (the customer
    wrote or called) or ``outbound`` (the helpdesk did). The SLA policy's customer-update clock
    reads it; the activity must map to a trigger marked ``interaction``."""

    _source: str = PrivateAttr(default="<mapping>")
    _text: str = PrivateAttr(default="")

    @property
    def source(self) -> str:
        """Where the mapping came from (a path or ``shipped:<name>``)."""
        return self._source

    @property
    def all_rules(self) -> tuple[Rule, ...]:
        """``rules`` then ``conditions``: every rule, in the order they are evaluated."""
        return self.rules + self.conditions

    def located(self, source: str, text: str) -> LogMapping:
        """This mapping, told where it came from and its text, so problems name their line."""
        self._source = source
        self._text = text
        return self

    def rank_map(self, column: str) -> dict[str, float] | None:
        """The column's label -> rank map, if ``[values]`` gives one with numbers."""
        table = self.values.get(column)
        if not table or not all(isinstance(v, int | float) for v in table.values()):
            return None
        return {label: float(rank) for label, rank in table.items()}

    def label_map(self, column: str | None) -> dict[str, str] | None:
        """The column's label -> label map, if ``[values]`` gives one with text."""
        table = self.values.get(column) if column is not None else None
        if not table or not all(isinstance(v, str) for v in table.values()):
            return None
        return {label: str(target) for label, target in table.items()}

    def guards_observable(self, spec: MachineSpec) -> tuple[str, ...]:
        """The guards of ``spec`` this log can show (see ``observable_guards``)."""
        if self.observable_guards is not None:
            return self.observable_guards
        return observable_guards(spec, category=self.columns.category is not None)

    def triggers(self, choice: TriggerChoice, spec: MachineSpec) -> tuple[str, ...]:
        """The trigger names ``choice`` stands for in ``spec``, in order of preference.

        A trigger name stands for itself; a mark (``escalate`` when no trigger has that name, or
        ``mark:escalate``) for every trigger carrying it, in the spec's order. Unknown names are
        left out (:meth:`check_against` reports them).
        """
        names = [choice] if isinstance(choice, str) else choice
        found: list[str] = []
        for name in names:
            for trigger in _resolve(name, spec):
                if trigger not in found:
                    found.append(trigger)
        return tuple(found)

    def check_against(self, spec: MachineSpec) -> None:
        """Raise :class:`MappingError` for anything inconsistent, or unknown to ``spec``."""
        problems = self.problems()
        for activity, choice in self.activities.items():
            steps = choice.sequence if isinstance(choice, Sequence) else (choice,)
            for step in steps:
                problems += self._trigger_problems(("activities", activity), step, spec)
        for index, rule in enumerate(self.all_rules):
            where = ("rules", index) if index < len(self.rules) else (
                "conditions", index - len(self.rules))
            problems += self._trigger_problems((*where, "trigger"), rule.trigger, spec)
        guards = {g.name for g in spec.guards}
        problems += [self._where(("observable_guards",), f"unknown guard {name!r}")
                     for name in self.observable_guards or () if name not in guards]
        problems += self._role_problems(spec)
        problems += self._interaction_problems(spec)
        if problems:
            raise MappingError(self._source, problems)

    def problems(self) -> list[str]:
        """What is inconsistent within the mapping itself (each located at its line)."""
        return [self._where(loc, message) for loc, message in _consistency(self)]

    def interaction_triggers(self, activity: str, spec: MachineSpec) -> tuple[str, ...]:
        """The triggers marked ``interaction`` that ``activity`` may fire in ``spec``."""
        choice = self.activities.get(activity)
        steps = choice.sequence if isinstance(choice, Sequence) else () if choice is None else (
            choice,)
        interacting = spec.marked(Mark.INTERACTION)
        return tuple(t for step in steps for t in self.triggers(step, spec) if t in interacting)

    def _interaction_problems(self, spec: MachineSpec) -> list[str]:
        return [self._where(("interactions", activity),
                            f"{activity!r} is not an activity of [activities]"
                            if activity not in self.activities else
                            f"activity {activity!r} fires no trigger marked 'interaction' in spec "
                            f"{spec.name!r}, so it has no direction")
                for activity in self.interactions
                if not self.interaction_triggers(activity, spec)]

    def _role_problems(self, spec: MachineSpec) -> list[str]:
        known = sorted({role for t in spec.transitions for role in t.roles})
        named: list[tuple[tuple[str | int, ...], str]] = [
            (("roles", resource), role) for resource, role in self.roles.items()]
        if self.default_role is not None:
            named.append((("default_role",), self.default_role))
        return [self._where(loc, f"unknown role {role!r}: spec {spec.name!r} has the roles "
                                 f"{', '.join(known)}")
                for loc, role in named if role not in known]

    def _trigger_problems(self, loc: tuple[str | int, ...], choice: TriggerChoice,
                          spec: MachineSpec) -> list[str]:
        names = [choice] if isinstance(choice, str) else choice
        if not names:
            return [self._where(loc, "empty trigger list: use `ignore` instead")]
        return [self._where(loc, f"no trigger named or marked {name!r} in spec {spec.name!r}; "
                                 f"its triggers: {', '.join(spec.trigger_names)}; its marks: "
                                 f"{', '.join(sorted({m.value for t in spec.triggers for m in t.marks}))}")
                for name in names if not _resolve(name, spec)]

    def _where(self, loc: tuple[str | int, ...], message: str) -> str:
        return locate(self._text, loc, message)


def _resolve(name: str, spec: MachineSpec) -> tuple[str, ...]:
    if not name.startswith(MARK_PREFIX) and spec.has_trigger(name):
        return (name,)
    mark = name.removeprefix(MARK_PREFIX)
    if mark in Mark.__members__.values():
        return spec.marked(Mark(mark))
    return ()


def _consistency(m: LogMapping) -> list[tuple[tuple[str | int, ...], str]]:  # noqa: PLR0912
    """The problems pydantic cannot see field by field: names, orders and value maps together."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    rules = m.all_rules
    where = [("rules", i) for i in range(len(m.rules))] + [
        ("conditions", i) for i in range(len(m.conditions))]
    labels = [r.label for r in rules]
    read_columns = {r.column for r in rules} | {m.columns.category, m.columns.priority}
    for column, table in m.values.items():
        kinds = {isinstance(v, str) for v in table.values()}
        if len(kinds) > 1:
            found.append((("values", column), "a value map holds ranks (numbers) or labels "
                                              "(text), not both"))
        if column not in read_columns:
            found.append((("values", column), f"no rule, category or priority reads column "
                                              f"{column!r}"))
    priority_map = m.label_map(m.columns.priority)
    if priority_map is not None:
        wrong = sorted({v for v in priority_map.values() if v not in _URGENCIES})
        if wrong:
            found.append((("values", m.columns.priority or ""),
                          f"a priority maps to an urgency ({', '.join(sorted(_URGENCIES))}), not "
                          f"{', '.join(map(repr, wrong))}"))
    for loc, rule in zip(where, rules, strict=True):
        if labels.count(rule.label) > 1:
            found.append(((*loc, "name"), f"two rules are called {rule.label!r}: give each a "
                                          f"distinct `name`"))
        if (rule.op == "equals") != (rule.value is not None):
            found.append(((*loc, "value"), "`value` is required with op = \"equals\" and only "
                                           "allowed with it"))
        ranks = m.rank_map(rule.column)
        if rule.op in {"increased", "decreased"} and m.label_map(rule.column) is not None:
            found.append(((*loc, "op"), f"{rule.op!r} compares ranks, but [values.{rule.column}] "
                                        f"maps labels to text: map them to numbers"))
        if rule.baseline is not None:
            if rule.op == "equals":
                found.append(((*loc, "baseline"), "a baseline is compared with the first row: "
                                                  "not used by op = \"equals\""))
            elif isinstance(rule.baseline, str) and ranks is not None and rule.baseline not in ranks:
                found.append(((*loc, "baseline"), f"{rule.baseline!r} is not a label of "
                                                  f"[values.{rule.column}]"))
            elif (isinstance(rule.baseline, str) and ranks is None and rule.op != "changed"
                  and not _is_number(rule.baseline)):
                found.append(((*loc, "baseline"), f"{rule.op!r} compares numbers: the baseline "
                                                  f"must be a number, not {rule.baseline!r}"))
        if isinstance(rule.drop_activity, tuple):
            found += [((*loc, "drop_activity"), f"{a!r} is not an activity of [activities]")
                      for a in rule.drop_activity if a not in m.activities]
        if m.order is not None and "position" in rule.model_fields_set:
            found.append(((*loc, "position"), "`position` is not used when the mapping gives "
                                              "`order`: list the rule there (and use "
                                              "`drop_activity` to drop the activity's trigger)"))
    if m.order is not None:
        known = {*labels, ACTIVITY}
        found += [(("order",), f"{name!r} is neither a rule name nor {ACTIVITY!r}; rules: "
                               f"{', '.join(labels) or 'none'}")
                  for name in m.order if name not in known]
        missing = [name for name in (*labels, ACTIVITY) if name not in m.order]
        if missing:
            found.append((("order",), f"`order` must list every rule and {ACTIVITY!r}; missing: "
                                      f"{', '.join(map(repr, missing))}"))
        repeated = sorted({name for name in m.order if m.order.count(name) > 1})
        if repeated:
            found.append((("order",), f"listed twice: {', '.join(map(repr, repeated))}"))
    return found


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_mapping(path: str | Path) -> LogMapping:
    """Read and validate a TOML mapping file; :class:`MappingError` names each bad line and key."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MappingError(str(path), [f"cannot read it: {exc.strerror or exc}"]) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise MappingError(str(path), [f"line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x}"
                                       f" at offset {exc.start}): TOML files are UTF-8; save "
                                       f"it as UTF-8"]) from None
    return parse_mapping(text, source=str(path))


def parse_mapping(text: str, *, source: str = "<mapping>") -> LogMapping:
    """Validate mapping TOML given as text (``source`` names it in errors)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(source, [f"not valid TOML: {exc}"]) from exc
    try:
        mapping = LogMapping.model_validate(data)
    except ValidationError as exc:
        raise MappingError(source, [locate(text, tuple(error["loc"]), error["msg"])
                                    for error in exc.errors()]) from exc
    mapping = mapping.located(source, text)
    problems = mapping.problems()
    if problems:
        raise MappingError(source, problems)
    return mapping
