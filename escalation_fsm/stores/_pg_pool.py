"""The sync PostgreSQL store's connections: a small pool, one connection leased per call.

Each store call (a read, a write transaction, opening, re-indexing) leases a connection for its
whole length and gives it back afterwards, so ``size`` threads talk to the server at once and
the others wait (up to ``timeout`` seconds) for one to come back. Connections are made as
threads need them, never more than ``size``; a broken or closed one is dropped when given back.

Why not ``psycopg_pool.ConnectionPool`` (which the async store does use): the store replaces a
lost connection itself, inside the call that lost it, and then asks whether its commit landed
(:mod:`escalation_fsm.stores.postgres`); that needs the replacement in the caller's hands, not
in a pool's background workers.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from ..errors import StoreError

if TYPE_CHECKING:
    import psycopg

__all__ = ["Lanes", "Leasing", "leasing"]

_T = TypeVar("_T")
_P = ParamSpec("_P")
_L = TypeVar("_L", bound="Leasing")


class Lanes:
    """Up to ``size`` connections made by ``connect``, leased one per call (thread-safe)."""

    def __init__(self, connect: Callable[[], Any], size: int, timeout: float) -> None:
        if type(size) is not int or size < 1:
            raise ValueError(f"pool_size must be a whole number of at least 1, got {size!r}")
        self._connect = connect
        self.size = size
        self._timeout = timeout
        self._idle: list[Any] = []
        self._made = 0
        self.opened = 0
        """Connections made since the pool was created (reconnects included)."""
        self._closed = False
        self._ready = threading.Condition()

    def add(self, connection: Any) -> None:
        """Count a connection made outside (the first one, made eagerly) and make it idle."""
        with self._ready:
            self._made += 1
            self.opened += 1
            self._idle.append(connection)

    def take(self) -> Any:
        """An idle connection, a new one if fewer than ``size`` exist, else wait for one."""
        with self._ready:
            while True:
                if self._closed:
                    raise StoreError("the PostgreSQL store was closed")
                if self._idle:
                    return self._idle.pop()
                if self._made < self.size:
                    self._made += 1
                    self.opened += 1
                    break
                if not self._ready.wait(self._timeout):
                    raise StoreError(f"no PostgreSQL connection came free within {self._timeout} s "
                                     f"(pool_size={self.size}: raise it, or hold calls shorter)")
        try:
            return self._connect()
        except BaseException:
            with self._ready:
                self._made -= 1
                self._ready.notify()
            raise

    def give(self, connection: Any) -> None:
        """Return a leased connection (a broken or closed one, or any after ``close``, is dropped)."""
        with self._ready:
            if self._closed or connection.closed or connection.broken:
                self._made -= 1
                connection.close()
            else:
                self._idle.append(connection)
            self._ready.notify()

    def close(self) -> None:
        """Close the idle connections now, and leased ones when they come back (idempotent)."""
        with self._ready:
            self._closed = True
            idle, self._idle = self._idle, []
            self._made -= len(idle)
            self._ready.notify_all()
        for connection in idle:
            connection.close()


class Leasing:
    """The pooled half of :class:`~escalation_fsm.stores.PostgresStore`.

    ``_conn`` is the connection leased to the calling thread for the length of one call.

    ``_call`` and ``_committed`` (:mod:`._pg_connection`, next in the method order) lease one
    around themselves; a reconnect inside them replaces the leased connection.
    """


    def _pool(self, connect: Callable[[], Any], size: int, timeout: float) -> None:
        self._lanes = Lanes(connect, size, timeout)
        self._leased = threading.local()

    @property
    def _conn(self) -> psycopg.Connection[tuple[Any, ...]]:
        """The connection the calling thread leased (inside a call; see ``_lease``)."""
        connection: psycopg.Connection[tuple[Any, ...]] = self._leased.conn
        return connection

    @_conn.setter
    def _conn(self, connection: psycopg.Connection[tuple[Any, ...]]) -> None:
        self._leased.conn = connection  # a reconnect replaces the leased connection

    @contextmanager
    def _lease(self) -> Iterator[None]:
        """Lease a pooled connection to this thread for one call (re-entrant within it)."""
        if getattr(self._leased, "conn", None) is not None:
            yield
            return
        self._leased.conn = self._lanes.take()
        try:
            yield
        finally:
            connection, self._leased.conn = self._leased.conn, None
            self._lanes.give(connection)

    def _close_pool(self) -> None:
        self._lanes.close()
        held = getattr(self._leased, "conn", None)  # leased to this thread outside a call
        if held is not None:
            self._leased.conn = None
            held.close()

    def _call(self, what: str, ticket_id: str | None, action: Callable[[], _T]) -> _T:
        with self._lease():
            result: _T = super()._call(what, ticket_id, action)  # type: ignore[misc]
            return result

    def _committed(self, what: str, ticket_id: str, *, trigger: str, key: str | None,
                   write: Callable[[], _T], landed: Callable[[], bool]) -> _T | None:
        with self._lease():
            result: _T | None = super()._committed(  # type: ignore[misc]
                what, ticket_id, trigger=trigger, key=key, write=write, landed=landed)
            return result


def leasing(method: Callable[Concatenate[_L, _P], _T]) -> Callable[Concatenate[_L, _P], _T]:
    """Run ``method`` with a pooled connection leased to the calling thread."""
    @functools.wraps(method)
    def leased(self: _L, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        with self._lease():
            return method(self, *args, **kwargs)
    return leased
