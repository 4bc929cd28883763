"""Group commit: the writes asked for during one turn of the event loop share one transaction.

A COMMIT costs far more than the writes of one batch (SQLite writes every page a
transaction touched to the WAL), so the engine does not commit each batch on its own: a
write is queued with :meth:`GroupCommit.write` and the caller awaits it; at the end of the
loop's turn every queued write runs, each in a savepoint of one transaction, and the
transaction commits. A write that raises rolls back alone (its caller gets the exception,
the others commit); a crash, or a failure of the transaction itself, before the commit
leaves none of the group's writes in the database, so every input they would have consumed
is still queued. Callers act on a write (run observers, answer a request) only once it
returns, that is once the group committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from sfidl.local.store import Store

T = TypeVar("T")


class GroupCommit:
    """Queues writes on a store and commits those of one event-loop turn together."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._pending: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []

    async def write(self, operation: Callable[[], T]) -> T:
        """Run ``operation`` (store writes) in the next group; its result once the group committed.

        Cancelled before the group runs, the operation is left out of it.
        """
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._commit)
        self._pending.append((operation, future))
        return await future

    def _commit(self) -> None:
        pending = [(op, future) for op, future in self._pending if not future.cancelled()]
        self._pending = []
        if not pending:
            return
        outcomes: list[tuple[asyncio.Future[Any], Any, Exception | None]] = []
        try:
            with self._store.group():
                for operation, future in pending:
                    try:
                        outcomes.append((future, operation(), None))
                    except Exception as exc:
                        if not self._store.in_group:
                            raise  # SQLite rolled the whole group back: nothing of it holds
                        outcomes.append((future, None, exc))
        except BaseException as exc:  # noqa: BLE001 - each waiting caller gets it
            for _, future in pending:
                if not future.done():
                    future.set_exception(exc)
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            return
        for future, result, error in outcomes:
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)
