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

from ..models import Urgency
from ..spec import MachineSpec
from .mapping import ACTIVITY, LogMapping, Rule, Sequence
from .notes import ReadNotes
from .reader import CaseData, RawCase

__all__ = ["RowPlan", "Step"]

Step = tuple[int, tuple[str, ...], str | None]
"""(event index, trigger alternatives, role or None)."""

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
    """The mapping compiled against ``spec``: :meth:`hits` then :meth:`steps`, once per case."""

    def __init__(self, mapping: LogMapping, spec: MachineSpec) -> None:
        self.mapping = mapping
        self.rules = tuple(_Compiled(rule, mapping, spec) for rule in mapping.all_rules)
        self.notes = ReadNotes()
        self.fired: Counter[str] = Counter()
        """How many rows each rule fired on (by rule label)."""
        self._activities: dict[str, tuple[tuple[str, ...], ...]] = {}
        for activity, choice in mapping.activities.items():
            steps = choice.sequence if isinstance(choice, Sequence) else (choice,)
            self._activities[activity] = tuple(mapping.triggers(step, spec) for step in steps)
        self._ignored = frozenset(mapping.ignore)
        self._missing = frozenset(mapping.missing)
        self._urgencies: dict[str, Urgency | None] = {}
        self._by_label = {rule.label: rule for rule in self.rules}
        self._order = mapping.order
        self._category_map = mapping.label_map(mapping.columns.category)
        self._priority_map = mapping.label_map(mapping.columns.priority)

    def never_fired(self) -> tuple[str, ...]:
        """Rules that fired on no row of anything replayed so far."""
        return tuple(rule.label for rule in self.rules if not self.fired[rule.label])

    def hits(self, case: CaseData) -> tuple[int, ...] | None:
        """Which rules fire on each event of ``case``, as bit masks (``None``: no rules).

        Counts what they could not read in :attr:`notes`, and what they fired in :attr:`fired`.
        """
        rules = self.rules
        if not rules:
            return None
        missing = self._missing
        previous: list[float | str | None] = [rule.baseline for rule in rules]
        masks: list[int] = []
        for index, activity in enumerate(case.activities):
            mask = 0
            for position, rule in enumerate(rules):
                if rule.only is not None and not rule.rule.applies_to(activity):
                    continue
                raw = case.conditions[position][index]
                if self._hit(rule, position, None if raw in missing else raw, previous,
                             case.lines[index]):
                    mask |= 1 << position
                    self.fired[rule.label] += 1
            masks.append(mask)
        return tuple(masks)

    def steps(self, activities: tuple[str, ...], hits: tuple[int, ...] | None,
              roles: tuple[str, ...] | None) -> list[Step]:
        """The steps of a case, in replay order.

        Its events have ``activities``, rule ``hits`` (see :meth:`hits`) and ``roles`` (``None``:
        not observable).
        """
        changes_only = self.mapping.columns.activity_changes_only
        table, ignored, rules = self._activities, self._ignored, self.rules
        steps: list[Step] = []
        previous_activity: str | None = None
        for index, activity in enumerate(activities):
            role = None if roles is None else roles[index]
            main: tuple[tuple[str, ...], ...] = ()
            if activity not in ignored and not (changes_only and activity == previous_activity):
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

    def _hit(self, rule: _Compiled, position: int, raw: str | None,  # noqa: PLR0911
             previous: list[float | str | None], line: int) -> bool:
        if rule.op == "equals":
            return raw == rule.value
        if raw is None:
            self.notes.add(rule.column, rule.label, "empty", f"line {line}")
            return False
        value: float | str
        if rule.ranks is not None:
            rank = rule.ranks.get(raw)
            if rank is None:
                self.notes.add(rule.column, rule.label, "unmapped_label", f"line {line}: {raw!r}")
                return False
            value = rank
        elif rule.numeric:
            try:
                value = float(raw)
            except ValueError:
                self.notes.add(rule.column, rule.label, "not_a_number", f"line {line}: {raw!r}")
                return False
        else:
            value = raw
        old = previous[position]
        previous[position] = value
        if old is None:
            return False
        if rule.op == "changed":
            return value != old
        if rule.op == "increased":
            return value > old  # type: ignore[operator]
        return value < old  # type: ignore[operator]

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
        column = self.mapping.columns.priority or ""
        if raw is None:
            return None, Urgency.NORMAL
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
