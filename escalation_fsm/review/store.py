"""Review the tickets a store holds: the replay's review report, from the stored histories.

:func:`review_store` reads the store's histories a page at a time through its bulk read path
(:meth:`~escalation_fsm.stores.StoreBase.histories`: one query per page, records built without a
second validation; ``docs/review.md`` says why that is sound) and counts each ticket the way a
replay counts a case of a log (:mod:`escalation_fsm.review.cases`), into the same
:class:`~escalation_fsm.replay.report.ReportFigures`, so the report, its JSON schema and its
renderers are the replay's. Only the report's aggregates stay in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from ..replay.basis import ReportBasis
from ..replay.diagram import annotated_diagram
from ..replay.reader import LogStats
from ..replay.report import ReportFigures
from ..replay.schema import ReviewReport
from ..replay.training import TrainingFigures
from ..sla import SLAPolicy
from ..stores import StoreBase
from ..stores._digest import HistoryDigest
from ..stores._histories import DigestStream, HistoryReads, HistoryStream
from .cases import CaseCounter

__all__ = ["review_store"]

_RECORDED = "recorded"


def _aware(when: datetime | None, name: str) -> datetime | None:
    if when is not None and when.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {when!r}")
    return when


def review_store(store: StoreBase, *, since: datetime | None = None,
                 until: datetime | None = None, sla: SLAPolicy | str | None = _RECORDED,
                 teams: Mapping[str, str] | None = None, pseudonymise: bool | str = False,
                 min_tickets: int = 10, svg: bool = False, name: str | None = None,
                 batch_size: int = 1000) -> ReviewReport:
    """The review report of the tickets in ``store`` whose case starts in ``[since, until)``.

    A ticket's case starts when it was opened (its first record when ``opened_at`` is unset).
    ``sla`` is the policy whose breach rates the report gives: by default the store machine's
    (the one its deadline index was built with), ``None`` for no SLA figures. ``teams`` maps agent
    ids to teams for the training section, ``pseudonymise`` replaces agent ids there (``True``:
    with a random key; a string: with that key, for pseudonyms stable across reports). Tickets
    the store cannot read are left out and counted in the report's warnings. ``svg`` draws the
    annotated diagram as SVG (needs Graphviz; the report says when it cannot). ``name`` is how
    the report names the store (default: its class). ``batch_size`` tickets are read per query.

    The histories are read through the store's bulk read path, which trusts what the store wrote
    (no hash checked, no second validation): run :meth:`~escalation_fsm.stores.StoreBase.verify`
    to vouch for data that writers outside the library could have reached.
    """
    since, until = _aware(since, "since"), _aware(until, "until")
    machine = store.machine
    spec = machine.spec
    policy = machine.sla if sla == _RECORDED else sla
    if isinstance(policy, str):
        raise ValueError(f"sla must be an SLAPolicy, None or {_RECORDED!r}, got {policy!r}")
    training = TrainingFigures(teams=teams, pseudonymise=pseudonymise, min_tickets=min_tickets)
    basis = ReportBasis(spec=spec, replay_spec=spec, sla=policy, source="none (a ticket store)")
    figures = ReportFigures(basis, training=training)
    where = name or type(store).__name__
    counter = CaseCounter(spec, policy, figures, training)
    stream: HistoryStream | DigestStream
    if figures.ladder is None and isinstance(store, HistoryReads):
        # Read in brief (the ladder's what-if walks the records; other readers give histories).
        stream = store.digests(since=since, until=until, page_size=batch_size,
                               asked=counter.asked)
        add, add_digest = counter.add, counter.add_digest
        for item in stream:
            if type(item) is HistoryDigest:
                add_digest(item)
            else:
                add(item)  # type: ignore[arg-type]
    else:
        stream = store.histories(since=since, until=until, page_size=batch_size)
        for history in stream:
            counter.add(history)
    if counter.breaches is not None:
        for clock, (decided, breached) in counter.breaches.counts().items():
            figures.sla_decided[clock] += decided
            figures.sla_breached[clock] += breached
    stats = LogStats(source=where)
    stats.rows, stats.cases, stats.start, stats.end = (counter.events, counter.cases,
                                                       counter.first, counter.last)
    report = figures.report(stats, log_name=where, source_kind="store",
                            sla_source=None if policy is None else "the store's recorded policy"
                            if sla == _RECORDED else "a policy given in Python")
    skipped = list(stream.skipped)
    if skipped:
        report = report.model_copy(update={"warnings": [
            *report.warnings, f"{len(skipped)} ticket(s) could not be read and are not counted: "
            + ", ".join(bad.ticket_id for bad in skipped[:10])
            + (" ..." if len(skipped) > 10 else "")]})
    return report.model_copy(update={"diagram": annotated_diagram(spec, report.counts(),
                                                                  svg=svg)})
