"""The bulk read path: every stored history, a page at a time, in id order, trusted.

For readers that go through a whole store (a review, a migration's dry run, an export):
:meth:`HistoryReads.histories` and :meth:`HistoryReads.history_page` read each page of tickets
with one query (the ticket rows, their documents and their history rows, each ticket's history
aggregated by the database) and build every audit record without validating it again.

**The trust rule.** Every stored row was written by a store through validated models (``create``
validates the ticket, ``apply`` the transition), so reading it back needs no second validation;
what could have changed a row since is a writer outside the library, and that is what the hash
chain and :meth:`~escalation_fsm.stores.StoreBase.verify` detect. This path therefore checks no
hash and runs no pydantic validation: it parses the JSON texts (pydantic-core's parser), checks
what is cheap (the history runs ``seq`` 1..n without gaps, each record leaves the stage the one
before entered and has exactly an audit record's fields, the row's version and stage agree with
the history) and builds the records as they were written. A row it
cannot read this way (text that is not JSON, a field missing or of the wrong kind, a broken
sequence, no document) is skipped and reported in ``skipped``, never raised and never silently
dropped. Use ``get``/``stream`` (which check the chain and validate) for a ticket you act on, and
``verify`` to vouch for the data.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from ..errors import CorruptTicket
from ._args import MAX_BATCH, checked_count, checked_id, checked_time
from ._digest import DigestRow, HistoryDigest, digest_of
from ._history import HistoryRow, TicketHistory, history_of
from ._types import StoreStats

__all__ = ["DigestStream", "HistoryPage", "HistoryReads", "HistoryStream"]

@dataclass(slots=True)
class HistoryPage:
    """One page of :meth:`HistoryReads.history_page`.

    ``histories`` in id order (those in the time window, if one was given); ``skipped`` one
    :class:`~escalation_fsm.errors.CorruptTicket` per ticket that could not be read; ``last_id``
    the last id read (pass it as ``after`` for the next page; ``None``: the page was empty);
    ``rows`` the tickets read, in the window or not (fewer than the page size: the last page).
    """

    histories: list[TicketHistory] = field(default_factory=list)
    skipped: list[CorruptTicket] = field(default_factory=list)
    last_id: str | None = None
    rows: int = 0


class HistoryStream(Iterator[TicketHistory]):
    """What :meth:`HistoryReads.histories` returns: the histories, plus what it left out.

    ``skipped`` grows as the stream goes, one :class:`~escalation_fsm.errors.CorruptTicket` per
    ticket that could not be read; ``read`` counts the tickets read (in the window or not).
    """

    def __init__(self, reads: HistoryReads, *, since: datetime | None, until: datetime | None,
                 page_size: int, after: str | None) -> None:
        self.skipped: list[CorruptTicket] = []
        self.read = 0
        self._items = self._pages(reads, since, until, page_size, after)

    def _pages(self, reads: HistoryReads, since: datetime | None, until: datetime | None,
               size: int, after: str | None) -> Iterator[TicketHistory]:
        while True:
            page = reads.history_page(after=after, size=size, since=since, until=until)
            self.skipped.extend(page.skipped)
            self.read += page.rows
            yield from page.histories
            if page.rows < size or page.last_id is None:
                return
            after = page.last_id

    def __next__(self) -> TicketHistory:
        return next(self._items)


class DigestStream(Iterator[HistoryDigest | TicketHistory]):
    """What :meth:`HistoryReads.digests` returns: digests, or full histories where needed.

    ``skipped`` and ``read`` as :class:`HistoryStream` has them.
    """

    def __init__(self, reads: HistoryReads, *, since: datetime | None, until: datetime | None,
                 page_size: int, asked: tuple[str, ...]) -> None:
        self.skipped: list[CorruptTicket] = []
        self.read = 0
        self.full_pages = 0
        """Pages read through the full bulk read (a store without digests: all of them)."""
        self._items = self._pages(reads, since, until, page_size, asked)

    def _pages(self, reads: HistoryReads, since: datetime | None, until: datetime | None,
               size: int, asked: tuple[str, ...]) -> Iterator[HistoryDigest | TicketHistory]:
        after: str | None = None
        while True:
            digests = reads.digest_page(after=after, size=size, since=since, until=until,
                                        asked=asked)
            if digests is None:  # a page only the full read may judge (or no digest read)
                page = reads.history_page(after=after, size=size, since=since, until=until)
                self.full_pages += 1
                self.skipped.extend(page.skipped)
                rows, last_id = page.rows, page.last_id
                yield from (history for history in page.histories if history.times)
            else:
                rows, last_id, found = digests
                yield from found
            self.read += rows
            if rows < size or last_id is None:
                return
            after = last_id

    def __next__(self) -> HistoryDigest | TicketHistory:
        return next(self._items)


class HistoryReads(ABC):
    """The bulk read half of :class:`~escalation_fsm.stores.StoreBase` (module docstring)."""

    stats: StoreStats

    def histories(self, *, since: datetime | None = None, until: datetime | None = None,
                  page_size: int = 1000, after: str | None = None) -> HistoryStream:
        """Every stored ticket's history, by id, ``page_size`` tickets per query, trusted.

        Fast: one query per page, no hash checked, no validation (the module's trust rule:
        what the store wrote is read back as written; ``verify`` vouches for it). ``since`` and
        ``until`` (timezone-aware) keep the tickets whose case starts in ``[since, until)``: opened
        then (``opened_at``), or, without an opening time, whose first record is then.
        ``after`` starts after that id. A ticket that cannot be read is left out and listed in
        the stream's ``skipped``. No transaction stays open between pages.
        """
        checked_count(page_size, "page_size", low=1, high=MAX_BATCH)
        since, until = _window(since, until)
        if after is not None:
            after = checked_id(after, "after")
        return HistoryStream(self, since=since, until=until, page_size=page_size, after=after)

    def history_page(self, *, after: str | None = None, size: int = 1000,
                     since: datetime | None = None,
                     until: datetime | None = None) -> HistoryPage:
        """Up to ``size`` tickets with ids greater than ``after``, by id: one page of :meth:`histories`.

        One query, one snapshot. The histories outside ``[since, until)`` are read and left out.
        """
        checked_count(size, "size", low=1, high=MAX_BATCH)
        since, until = _window(since, until)
        rows = self._history_rows(None if after is None else checked_id(after, "after"), size)
        page = HistoryPage(rows=len(rows), last_id=rows[-1].id if rows else None)
        for row in rows:
            try:
                history = history_of(row)
            except CorruptTicket as exc:
                page.skipped.append(exc)
                continue
            if since is not None or until is not None:
                start = history.start
                if start is None or (since is not None and start < since) or (
                        until is not None and start >= until):
                    continue
            page.histories.append(history)
        self.stats.skipped += len(page.skipped)
        return page

    def digests(self, *, since: datetime | None = None, until: datetime | None = None,
                page_size: int = 1000, asked: tuple[str, ...] = ()) -> DigestStream:
        """Every stored ticket with history, in brief (:mod:`._digest`), by id, trusted.

        What :meth:`histories` gives, for counters that read of each record only its trigger,
        stage, time and actor (and of the records whose trigger is in ``asked``, the payload's
        ``eta`` and ``direction``): a :class:`~._digest.HistoryDigest` per ticket, or its
        :class:`TicketHistory` for a page the digest cannot vouch for (or from a store without
        a digest read). Tickets without history are left out.
        """
        checked_count(page_size, "page_size", low=1, high=MAX_BATCH)
        since, until = _window(since, until)
        return DigestStream(self, since=since, until=until, page_size=page_size,
                            asked=tuple(asked))

    def digest_page(self, *, after: str | None, size: int, since: datetime | None,
                    until: datetime | None, asked: tuple[str, ...]
                    ) -> tuple[int, str | None, list[HistoryDigest]] | None:
        """One page of :meth:`digests`: the rows read, the last id, the digests in the window.

        ``None``: read this page with :meth:`history_page` (no digest read, or some ticket of
        the page is one that only the full read may judge).
        """
        rows = self._digest_rows(after, size, asked)
        if rows is None:
            return None
        found = []
        for row in rows:
            if row.seqs is None and row.version == 0 and row.has_document:
                continue  # no history: not a case (the full read checks nothing more of it)
            digest = digest_of(row)
            if digest is None:
                return None
            if since is not None or until is not None:
                start = digest.start
                if (since is not None and start < since) or (until is not None and start >= until):
                    continue
            found.append(digest)
        return len(rows), rows[-1].id if rows else None, found

    def _digest_rows(self, after: str | None, size: int,
                     asked: tuple[str, ...]) -> list[DigestRow] | None:
        """One page of digest rows; ``None``: this store has no digest read (the default)."""
        return None

    @abstractmethod
    def _history_rows(self, after: str | None, size: int) -> list[HistoryRow]:
        """Up to ``size`` tickets with ids greater than ``after``, by id, as bulk rows."""


def _window(since: datetime | None,
            until: datetime | None) -> tuple[datetime | None, datetime | None]:
    return (None if since is None else checked_time(since, "since"),
            None if until is None else checked_time(until, "until"))
