"""From a case's rows to the trigger steps a replay fires: activities, rules and their order.

:class:`RowPlan` is the mapping compiled against a spec once: every trigger reference resolved
to trigger names (marks included), every rule's value map and baseline read. ``hits(case)``
reads one case's rule columns, counting in :attr:`RowPlan.notes` every value a rule could not
read and in :attr:`RowPlan.fired` how often each rule fired; ``steps(...)`` then turns the case's
activities, rule hits and roles into steps. The steps depend on nothing else, so a replayer can
remember them (and what they replay to) for every case with the same activities and hits.
"""

from __future__ import annotations

from collections import Counter
from itertools import compress
from operator import ne, or_
from typing import NamedTuple

from ..models import Urgency
from ..spec import MachineSpec
from .mapping import ACTIVITY, LogMapping, Rule, Sequence
from .notes import ReadNotes
from .reader import CaseData, RawCase

__all__ = ["RowPlan", "Step", "Trace"]

_MAX_TRACES = 50_000

Step = tuple[int, tuple[str, ...], str | None]
"""(position in the trace, trigger alternatives, role or None)."""


class Trace(NamedTuple):
    """What a case's steps follow from: its events' activities, rule hits and roles.

    ``fires`` says which of them fire their activity's triggers; ``None`` when the trace holds
    every event of the case (it then follows from ``ignore`` and ``activity_changes_only``).
    """

    activities: tuple[str, ...]
    fires: tuple[bool, ...] | None
    hits: tuple[int, ...] | None
    roles: tuple[str, ...] | None

_URGENCY_WORDS = (("critical", Urgency.CRITICAL), ("urgent", Urgency.CRITICAL),
                  ("high", Urgency.HIGH), ("low", Urgency.LOW), ("normal", Urgency.NORMAL),
                  ("moderate", Urgency.NORMAL), ("medium", Urgency.NORMAL))


def urgency_word(priority: str) -> Urgency | None:
    """The urgency a priority text names by word (``"2 - High"`` is high), ``None`` if none.

    >>> urgency_word("1 - Critical"), urgency_word("P9")
    (<Urgency.CRITICAL: 'critical'>, None)
    """
    text = priority.lower()
    return next((urgency for word, urgency in _URGENCY_WORDS if word in text), None)


class _Compiled:
    """One rule, ready to evaluate: where its value is, how to read it, what it fires."""

    __slots__ = ("baseline", "choices", "column", "label", "numeric", "only", "op", "position",
                 "ranks", "rule", "value")

    def __init__(self, rule: Rule, mapping: LogMapping, spec: MachineSpec) -> None:
        self.rule = rule
        self.label = rule.label
        self.column = rule.column
        self.op = rule.op
        self.value = rule.value
        self.position = rule.position
        self.ranks = mapping.rank_map(rule.column)
        self.numeric = self.ranks is not None or rule.op in {"increased", "decreased"}
        self.choices = mapping.triggers(rule.trigger, spec)
        self.only = rule.activity
        baseline = rule.baseline
        if isinstance(baseline, str) and self.numeric:
            baseline = self.ranks[baseline] if self.ranks is not None else float(baseline)
        self.baseline: float | str | None = baseline


class RowPlan:
    """The mapping compiled against ``spec``: :meth:`trace` once per case, :meth:`steps` per trace."""

    def __init__(self, mapping: LogMapping, spec: MachineSpec, *, cache: bool = True) -> None:
        self.mapping = mapping
        self.cache = cache
        """Whether traces are remembered per distinct activities and rule cells."""
        self.rules = tuple(_Compiled(rule, mapping, spec) for rule in mapping.all_rules)
        self.notes = ReadNotes()
        self.fired: Counter[str] = Counter()
        """How many rows each rule fired on (by rule label)."""
        self._activities: dict[str, tuple[tuple[str, ...], ...]] = {}
        for activity, choice in mapping.activities.items():
            steps = choice.sequence if isinstance(choice, Sequence) else (choice,)
            self._activities[activity] = tuple(mapping.triggers(step, spec) for step in steps)
        self._ignored = frozenset(mapping.ignore)
        self._changes_only = mapping.columns.activity_changes_only
        self._sparse = self._changes_only or bool(self._ignored)
        self._traces: dict[tuple[object, ...], tuple[Trace, tuple[int, ...] | None,
                                                     tuple[tuple[str, int], ...]]] = {}
        """Whether some events may fire nothing (and be left out of traces)."""
        self._missing = frozenset(mapping.missing)
        self._urgencies: dict[str, Urgency | None] = {}
        self._by_label = {rule.label: rule for rule in self.rules}
        self._order = mapping.order
        self._category_map = mapping.label_map(mapping.columns.category)
        self._priority_map = mapping.label_map(mapping.columns.priority)

    @property
    def activities_only(self) -> bool:
        """Whether a case's trace is its activities alone (no rules, no event left out).

        Then cases with the same activities share their trace, whatever their cells say.
        """
        return not self.rules and not self._sparse

    def never_fired(self) -> tuple[str, ...]:
        """Rules that fired on no row of anything replayed so far."""
        return tuple(rule.label for rule in self.rules if not self.fired[rule.label])

    def hits(self, case: CaseData) -> tuple[int, ...] | None:
        """Which rules fire on each event of ``case``, as bit masks (``None``: no rules).

        Counts what they could not read in :attr:`notes`, and what they fired in :attr:`fired`.
        """
        if not self.rules:
            return None
        masks = [0] * len(case.activities)
        for position, rule in enumerate(self.rules):
            found = self._hits(rule, case.conditions[position], case)
            if found:
                bit = 1 << position
                for index in found:
                    masks[index] |= bit
                self.fired[rule.label] += len(found)
        return tuple(masks)

    def _hits(self, rule: _Compiled, values: list[str | None],
              case: CaseData) -> list[int]:
        """The events of ``case`` on which ``rule`` fires (its cells are ``values``)."""
        missing, activities, only = self._missing, case.activities, rule.only is not None
        found: list[int] = []
        if rule.op == "equals":
            wanted = rule.value
            return [index for index, raw in enumerate(values)
                    if raw == wanted and raw not in missing
                    and (not only or rule.rule.applies_to(activities[index]))]
        previous = rule.baseline  # the last value that could be read
        ranks, numeric, op = rule.ranks, rule.numeric, rule.op
        for index, raw in enumerate(values):
            if only and not rule.rule.applies_to(activities[index]):
                continue
            if raw is None or raw in missing:
                self.notes.add(rule.column, rule.label, "empty", f"line {case.lines[index]}")
                continue
            value: float | str | None
            if ranks is not None:
                value = ranks.get(raw)
                if value is None:
                    self.notes.add(rule.column, rule.label, "unmapped_label",
                                   f"line {case.lines[index]}: {raw!r}")
                    continue
            elif numeric:
                try:
                    value = float(raw)
                except ValueError:
                    self.notes.add(rule.column, rule.label, "not_a_number",
                                   f"line {case.lines[index]}: {raw!r}")
                    continue
            else:
                value = raw
            old, previous = previous, value
            if old is not None and (value != old if op == "changed" else
                                    value > old if op == "increased"  # type: ignore[operator]
                                    else value < old):  # type: ignore[operator]
                found.append(index)
        return found

    def trace(self, case: CaseData,
              roles: tuple[str, ...] | None) -> tuple[Trace, tuple[int, ...] | None]:
        """The case's trace, and the events that bear its steps (``None``: every event).

        Cases with equal traces replay alike (but for their times). Events that fire nothing (an
        ignored activity, a repeated state with ``activity_changes_only``, on which no rule
        fires) are left out of the trace when there are any, so that such cases share it.
        ``roles`` are the events' roles (``None``: not observable).
        """
        if not self.rules:
            return self._trace(case.activities, None, roles)
        if not self.cache:
            return self._trace(case.activities, self.hits(case), roles)
        # Many cases share their activities and rule cells: remember what they make, unless a
        # rule could not read a cell (the note names the case's own line).
        raw = (tuple(case.activities), roles, *map(tuple, case.conditions))
        known = self._traces.get(raw)
        if known is not None:
            trace, positions, fired = known
            for label, count in fired:
                self.fired[label] += count
            return trace, positions
        notes = self.notes.counts.total()
        hits = self.hits(case)
        trace, positions = self._trace(case.activities, hits, roles)
        if self.notes.counts.total() == notes:
            if len(self._traces) >= _MAX_TRACES:
                self._traces.clear()
            self._traces[raw] = trace, positions, tuple(
                (rule.label, count) for position, rule in enumerate(self.rules)
                if (count := sum(1 for mask in hits or () if mask >> position & 1)))
        return trace, positions

    def _trace(self, activities: list[str], hits: tuple[int, ...] | None,
               roles: tuple[str, ...] | None) -> tuple[Trace, tuple[int, ...] | None]:
        if not self._sparse:
            return Trace(tuple(activities), None, hits, roles), None
        fires = (list(map(ne, activities, [None, *activities])) if self._changes_only
                 else [True] * len(activities))
        if self._ignored:
            fires = [fire and activity not in self._ignored
                     for fire, activity in zip(fires, activities, strict=True)]
        bear = fires if hits is None else list(map(or_, fires, hits))
        if all(bear):
            return Trace(tuple(activities), None, hits, roles), None
        kept = tuple(compress(range(len(activities)), bear))
        return Trace(tuple([activities[i] for i in kept]), tuple([fires[i] for i in kept]),
                     None if hits is None else tuple([hits[i] for i in kept]),
                     None if roles is None else tuple([roles[i] for i in kept])), kept

    def steps(self, trace: Trace) -> list[Step]:
        """The steps of a trace, in replay order (their indices are positions in the trace)."""
        changes_only = self.mapping.columns.activity_changes_only
        table, ignored, rules = self._activities, self._ignored, self.rules
        roles, hits, fires = trace.roles, trace.hits, trace.fires
        steps: list[Step] = []
        previous_activity: str | None = None
        for index, activity in enumerate(trace.activities):
            role = None if roles is None else roles[index]
            main: tuple[tuple[str, ...], ...] = ()
            if fires is not None:
                if fires[index]:
                    main = table[activity]
            elif activity not in ignored and not (changes_only and activity == previous_activity):
                main = table[activity]
            previous_activity = activity
            mask = 0 if hits is None else hits[index]
            if not mask:
                steps += [(index, choices, role) for choices in main]
                continue
            fired = [rule for position, rule in enumerate(rules) if mask >> position & 1]
            dropped = any(rule.rule.drops(activity) if self._order is None
                          else _drops_in_order(rule.rule, activity) for rule in fired)
            own = () if dropped else main
            if self._order is not None:
                for name in self._order:
                    if name == ACTIVITY:
                        steps += [(index, choices, role) for choices in own]
                    else:
                        rule = self._by_label[name]
                        if rule in fired:
                            steps.append((index, rule.choices, role))
                continue
            steps += [(index, r.choices, role) for r in fired if r.position == "before"]
            steps += [(index, r.choices, role) for r in fired if r.position == "instead"]
            steps += [(index, choices, role) for choices in own]
            steps += [(index, r.choices, role) for r in fired if r.position == "after"]
        return steps

    def category(self, case: RawCase | CaseData) -> str | None:
        """The case's category as the report groups it (through the value map, if any)."""
        raw = case.category
        if raw is None or self._category_map is None:
            return raw
        mapped = self._category_map.get(raw)
        if mapped is None:
            self.notes.add(self.mapping.columns.category or "", "category", "unmapped_label",
                           f"case {case.case_id}: {raw!r}")
            return raw
        return mapped

    def priority(self, case: RawCase | CaseData, *,
                 urgency_needed: bool) -> tuple[str | None, Urgency]:
        """The case's priority as reported, and the urgency its SLA targets are read for.

        Through the value map when there is one; otherwise the urgency is read from the words in
        the text (``"2 - High"``). Anything unclear counts as normal, and is noted (only when an
        SLA policy needs the urgency).
        """
        raw = case.priority
        if raw is None:
            return None, Urgency.NORMAL
        column = self.mapping.columns.priority or ""
        if self._priority_map is not None:
            mapped = self._priority_map.get(raw)
            if mapped is None:
                self.notes.add(column, "priority", "unmapped_label",
                               f"case {case.case_id}: {raw!r} (counted as normal)")
                return raw, Urgency.NORMAL
            return mapped, Urgency(mapped)
        if raw in self._urgencies:  # a log has few distinct priorities: read each once
            urgency = self._urgencies[raw]
        else:
            if len(self._urgencies) > 4096:
                self._urgencies.clear()
            urgency = self._urgencies[raw] = urgency_word(raw)
        if urgency is None:
            if urgency_needed:
                self.notes.add(column, "priority", "unknown_urgency",
                               f"case {case.case_id}: {raw!r} (counted as normal)")
            return raw, Urgency.NORMAL
        return raw, urgency


def _drops_in_order(rule: Rule, activity: str) -> bool:
    """With an explicit ``order`` only ``drop_activity`` drops the activity (no ``position``)."""
    drop = rule.drop_activity
    if drop is None:
        return False
    return drop if isinstance(drop, bool) else activity in drop
