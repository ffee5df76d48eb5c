"""Async stores driven from synchronous test code, so that one contract suite covers all five.

:class:`SyncView` runs an async store on an event loop of its own, in a thread of its own: each
coroutine method becomes a plain call that waits for it. A view per store handle means a hook
running on one store's loop may call another handle (as the lost-race tests do) without
re-entering a running loop.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

from escalation_fsm.stores import AsyncHistoryStream, AsyncStoreBase, AsyncTicketStream

_T = TypeVar("_T")


class SyncStream(Iterator[Any]):
    """An async stream (:class:`AsyncTicketStream`, :class:`AsyncHistoryStream`) read one item
    at a time from synchronous code; its counters (``skipped``, ``read``) read through."""

    def __init__(self, view: SyncView, stream: AsyncTicketStream | AsyncHistoryStream) -> None:
        self._view = view
        self._stream = stream

    @property
    def skipped(self) -> list[Any]:
        return self._stream.skipped

    @property
    def read(self) -> int:
        return int(getattr(self._stream, "read"))  # noqa: B009 (histories only)

    def __next__(self) -> Any:
        try:
            return self._view.run(anext(self._stream))
        except StopAsyncIteration:
            raise StopIteration from None


class SyncView:
    """A synchronous face on one async store (opened on creation, closed by ``close``)."""

    def __init__(self, store: AsyncStoreBase) -> None:
        self._store = store
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name=f"loop-{type(store).__name__}")
        self._thread.start()
        try:
            self.run(store.open())
        except BaseException:
            self._stop()
            raise

    @property
    def store(self) -> AsyncStoreBase:
        return self._store

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._store, name)
        if inspect.iscoroutinefunction(value):
            return lambda *args, **kwargs: self.run(value(*args, **kwargs))
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        if name in ("_store", "_loop", "_thread"):
            object.__setattr__(self, name, value)
        elif name.startswith("_"):
            # A white-box test patching a primitive must patch the async store with a coroutine
            # function (view.store); patching the view would silently change nothing.
            raise AttributeError(f"patch {name} on the async store itself (SyncView.store)")
        else:
            setattr(self._store, name, value)

    def stream(self, *, batch_size: int = 500) -> SyncStream:
        return SyncStream(self, self._store.stream(batch_size=batch_size))

    def histories(self, **options: Any) -> SyncStream:
        return SyncStream(self, self._store.histories(**options))

    def __enter__(self) -> SyncView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self.run(self._store.close())
        finally:
            self._stop()

    def _stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


# -- many tasks in one process: the async twin of store_support.hammer -------------------------


def async_hammer(kind: str, target: str, worker: int, ticket_ids: list[str], tasks: int,  # noqa: PLR0917 (Pool.starmap)
                 commits: int) -> dict[str, Any]:
    """Run ``tasks`` concurrent tasks in this process on one async store until each committed
    ``commits`` transitions on the shared tickets; log every outcome with its unique token."""
    return asyncio.run(_hammer(kind, target, worker, ticket_ids, tasks, commits))


async def _hammer(kind: str, target: str, worker: int, ticket_ids: list[str], tasks: int,  # noqa: PLR0917
                  commits: int) -> dict[str, Any]:
    import random

    from store_support import CYCLE, TOKEN_FIELD

    from escalation_fsm import Actor, ConcurrentUpdate, InvalidTransition, Role
    from escalation_fsm.stores import AsyncPostgresStore, AsyncSQLiteStore

    log: dict[str, Any] = {"committed": [], "conflicts": [], "invalid": [], "attempts": 0}
    store: AsyncStoreBase = (AsyncSQLiteStore(target) if kind == "async_sqlite"
                             else AsyncPostgresStore(target, pool_size=4))

    async def task(number: int) -> None:
        rng = random.Random(worker * 1000 + number)
        actor = Actor(id=f"w{worker}-{number}", role=Role.AGENT)
        seen = dict.fromkeys(ticket_ids, "attempted")
        done = tried = 0
        while done < commits and tried < commits * 8:
            ticket_id = rng.choice(ticket_ids)
            trigger = rng.choice(CYCLE[seen[ticket_id]])
            token = f"w{worker}-{number}-{tried}"
            tried += 1
            log["attempts"] += 1
            try:
                new = await store.apply(ticket_id, trigger, actor=actor,
                                        **{TOKEN_FIELD[trigger]: token})
            except ConcurrentUpdate:
                log["conflicts"].append((ticket_id, token))
            except InvalidTransition as exc:
                seen[ticket_id] = exc.stage
                log["invalid"].append((ticket_id, token))
            else:
                seen[ticket_id] = new.stage
                done += 1
                log["committed"].append((ticket_id, new.version, token))

    async with store:
        await asyncio.gather(*(task(number) for number in range(tasks)))
        log["stats"] = (store.stats.commits, store.stats.conflicts, store.stats.gave_up)
    return log


def async_crash_writer(kind: str, target: str, ticket_id: str, log_path: str, tasks: int) -> None:
    """``tasks`` tasks commit record_step transitions forever on one ticket, each logged the
    moment apply returns; the test kills the process with SIGKILL."""
    asyncio.run(_crash_writer(kind, target, ticket_id, log_path, tasks))


async def _crash_writer(kind: str, target: str, ticket_id: str, log_path: str, tasks: int) -> None:
    from escalation_fsm import Actor, ConcurrentUpdate, Role
    from escalation_fsm.stores import AsyncPostgresStore, AsyncSQLiteStore

    store: AsyncStoreBase = (AsyncSQLiteStore(target) if kind == "async_sqlite"
                             else AsyncPostgresStore(target, pool_size=tasks))
    actor = Actor(id="crash", role=Role.AGENT)
    with open(log_path, "a", encoding="utf-8") as log:  # noqa: PTH123

        async def task(number: int) -> None:
            for n in range(1_000_000):
                token = f"c-{number}-{n}"
                try:
                    new = await store.apply(ticket_id, "record_step", actor=actor, step=token)
                except ConcurrentUpdate:
                    continue
                log.write(f"{new.version} {token}\n")
                log.flush()

        async with store:
            await asyncio.gather(*(task(number) for number in range(tasks)))
