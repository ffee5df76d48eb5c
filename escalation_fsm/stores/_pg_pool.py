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

import threading
from collections.abc import Callable
from typing import Any

from ..errors import StoreError

__all__ = ["Lanes"]


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
