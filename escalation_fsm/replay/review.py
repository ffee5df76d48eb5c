"""One call from a log file and a mapping to the review report."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..marks import Mark
from ..sla import SLAPolicy
from ..spec import MachineSpec
from .diagram import annotated_diagram
from .engine import CaseResult, Replayer
from .mapping import LogMapping, load_mapping
from .program import CaseProgram
from .reader import CaseData, LogStats, Progress, read_case_data
from .report import ReportFigures, ReviewReport
from .shipped import shipped_mapping, shipped_mappings
from .training import TrainingCase, TrainingFigures

__all__ = ["resolve_mapping", "review"]

_MAX_PROGRAMS = 20_000

def resolve_mapping(mapping: str | Path | LogMapping) -> LogMapping:
    """A mapping given as a :class:`LogMapping`, a TOML path, or a shipped mapping's name."""
    if isinstance(mapping, LogMapping):
        return mapping
    if isinstance(mapping, str) and mapping in shipped_mappings() and not Path(mapping).exists():
        return shipped_mapping(mapping)
    return load_mapping(mapping)


def review(log: str | Path, mapping: str | Path | LogMapping, *, svg: bool = False,
           progress: Progress | None = None,
           on_case: Callable[[CaseResult], object] | None = None,
           sla: SLAPolicy | None = None, sla_source: str | None = None,
           cache_traces: bool = True, training: TrainingFigures | None = None) -> ReviewReport:
    """Replay ``log`` with ``mapping`` and compute the review report (with the diagram if possible).

    ``svg`` also renders the annotated diagram as SVG (needs Graphviz; the report says so when it
    cannot). ``on_case`` is called with each case's result as it is replayed. ``sla`` is the SLA
    policy whose breach rates the report gives, ``sla_source`` where it came from (shown in the
    report); without one no SLA figures are measured: the report never measures against targets
    nobody chose. ``cache_traces=False`` fires every case through the machine (needed when an
    observable guard reads the time: see :class:`~escalation_fsm.replay.Replayer`).
    ``training`` (default: a :class:`~escalation_fsm.replay.training.TrainingFigures` with its
    defaults) counts who handled each case from the log's resource column. Raises
    :class:`~escalation_fsm.replay.errors.MappingError` or
    :class:`~escalation_fsm.replay.errors.LogError` before any report exists: never a partial one.
    """
    replayer = Replayer(resolve_mapping(mapping), sla=sla, cache_traces=cache_traces)
    stats = LogStats(source=str(log))
    # The report is counted from each case and the replay of its trace: no CaseResult is built
    # (nor the case's SLA deadlines) unless ``on_case`` asks for it.
    training = TrainingFigures() if training is None else training
    figures = ReportFigures(replayer, training=training)
    people = _People(replayer.replay_spec)
    for case in read_case_data(log, replayer.mapping, stats, progress=progress):
        program = replayer.compile(case)
        measured = replayer.measure(case, program)
        figures.add_case(case, program, measured)
        training.count(*people.fields(case, program, measured.category))
        if on_case is not None:
            on_case(replayer.result(case, program, measured))
    report = figures.report(stats, log_name=Path(log).name, sla_source=sla_source)
    diagram = annotated_diagram(replayer.spec, report.counts(), svg=svg)
    return report.model_copy(update={"diagram": diagram})


class _People:
    """Who handled a replayed case: the resource of its first attempt and of its resolution."""

    def __init__(self, spec: MachineSpec) -> None:
        self.attempting = frozenset(spec.marked(Mark.ATTEMPT))
        self.resolving = frozenset(spec.marked(Mark.RESOLVE))
        self.reopening = frozenset(spec.marked(Mark.REOPEN))
        # Per program (held, so that its id stays its own): where in its trace the first attempt
        # and the first resolution are, and whether a reopening follows; the same for every case.
        self._roles: dict[int, tuple[CaseProgram, int | None, int | None, bool]] = {}

    def of(self, case: CaseData, program: CaseProgram, category: str | None) -> TrainingCase:
        """The :class:`TrainingCase` of a replayed case."""
        return TrainingCase(*self.fields(case, program, category))

    def fields(self, case: CaseData, program: CaseProgram, category: str | None,
               ) -> tuple[str | None, str | None, bool, bool, float | None, str | None, bool]:
        """The fields of :meth:`of`'s :class:`TrainingCase`, in order.

        For :meth:`TrainingFigures.count`, once per case of a large log: no object built.
        """
        known = self._roles.get(id(program))
        if known is None or known[0] is not program:
            known = self._learn(program)
        _, attempt, resolve, reopened = known
        positions, resources, instants = case.positions, case.resources, case.instants
        agent = resolver = None
        first_response = None
        if attempt is not None:
            event = attempt if positions is None else positions[attempt]
            agent = resources[event]
            first_response = (instants[event] - instants[0]) / 1_000_000
        if resolve is not None:
            resolver = resources[resolve if positions is None else positions[resolve]]
        escalated = program.escalated
        return (category, agent, escalated,
                resolve is not None and not (escalated or reopened), first_response, resolver,
                reopened)

    def _learn(self, program: CaseProgram) -> tuple[CaseProgram, int | None, int | None, bool]:
        attempt = resolve = None
        reopened = False
        for position, _, _, trigger, _ in program.records:
            if trigger in self.attempting and attempt is None:
                attempt = position
            elif trigger in self.resolving and resolve is None:
                resolve = position
            elif trigger in self.reopening and resolve is not None:
                reopened = True
        if len(self._roles) >= _MAX_PROGRAMS:
            self._roles.clear()
        found = self._roles[id(program)] = (program, attempt, resolve, reopened)
        return found
