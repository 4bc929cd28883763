"""The in-process test harness: the local runtime's engine on an in-memory database and a virtual clock.

Example::

    with Harness(app) as h:
        h.send("shop/cart", "alice", AddToCart(item_id="socks", quantity=2))
        h.run_until_quiet()
        h.advance(timedelta(hours=1))            # fires timers, expires state
        assert h.state("shop/cart", "alice", "cart") is None
        assert [r.value for r in h.egress("receipts")] == [...]

The API is synchronous: the engine runs on an event loop in a private thread, so the
harness works the same from plain and from async tests.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, TypeVar

from google.protobuf.message import Message

from sfidl.local import codec, egress, ingress
from sfidl.local.app import LocalApp
from sfidl.local.clock import MILLISECOND, VirtualClock
from sfidl.local.engine import Engine, unpack
from sfidl.local.errors import LocalRuntimeError
from sfidl.local.records import Address, Delivery, EgressRecord
from sfidl.local.store import Incoming, Queued, Store
from sfidl.local.transport import InProcess
from sfidl.runtime.manifest import Manifest

__all__ = ["Delivery", "EgressRecord", "Harness"]

T = TypeVar("T")


class Harness:
    """Drives an application as the StateFun runtime would, deterministically, on virtual time.

    Messages given to :meth:`send` and :meth:`ingest` are queued; :meth:`run_until_quiet`
    and :meth:`advance` deliver them. A function error or a response the real runtime would
    reject raises from those calls (a :class:`~sfidl.local.errors.JobFailure`).
    """

    def __init__(self, app: LocalApp, *, start: datetime | None = None) -> None:
        self.manifest: Manifest = app.manifest
        self.clock = VirtualClock(start)
        self.sent: list[Delivery] = []
        """Every message delivered so far, in delivery order."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="sfidl-harness", daemon=True
        )
        self._thread.start()
        self._engine = self._run(self._open(app))

    async def _open(self, app: LocalApp) -> Engine:
        engine = Engine(app.manifest, InProcess(app), Store(":memory:"), self.clock)
        engine.delivery_observers.append(self._delivered)
        return engine

    def _delivered(self, target: Address, batch: Sequence[Queued]) -> None:
        for queued in batch:
            typename, value = unpack(queued.argument)
            self.sent.append(
                Delivery(target, queued.caller, typename, codec.decode(typename, value))
            )

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._loop.is_closed():
            coroutine.close()
            raise LocalRuntimeError("the harness is closed")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def _sync(self, fn: Callable[[], T]) -> T:
        async def call() -> T:
            return fn()

        return self._run(call())

    @property
    def now(self) -> datetime:
        """The virtual time."""
        return self.clock.datetime()

    def send(self, typename: str, id: str, message: Message) -> None:
        """Queue ``message`` for the function ``typename`` (``namespace/type``) with ``id``, as from an ingress."""
        incoming = Incoming(Address.of(typename, id), None, ingress.message_value(message))
        self._sync(lambda: self._engine.enqueue([incoming]))

    def ingest(self, ingress_name_or_typename: str, key: str, message: Message) -> None:
        """Queue a record of a declared Kafka/Kinesis ingress: ``key`` is the target id."""
        declared = ingress.find_ingress(self.manifest, ingress_name_or_typename)
        incoming = ingress.from_ingress(declared, key, message.SerializeToString())
        self._sync(lambda: self._engine.enqueue([incoming]))

    def run_until_quiet(self) -> None:
        """Deliver queued messages (and those they cause) until nothing is left, without moving time."""
        self._run(self._engine.run_until_quiet())

    def advance(self, delta: timedelta) -> None:
        """Move time forward by ``delta``, firing due delayed messages in time order and expiring state.

        Time stops at each fire time on the way: what a timer causes runs before later timers
        fire. Messages due at the same time are queued in the order they were sent.
        """
        if delta < timedelta(0):
            raise ValueError(f"advance({delta!r}): time never goes back")
        target = self.clock.now_ms() + delta // MILLISECOND
        self.run_until_quiet()
        while True:
            next_fire = self._sync(self._engine.store.next_fire_at)
            if next_fire is None or next_fire > target:
                break
            self.clock.set(max(next_fire, self.clock.now_ms()))
            self.run_until_quiet()
        self.clock.set(target)
        self._sync(lambda: self._engine.store.purge_expired(target))
        self.run_until_quiet()

    def state(self, typename: str, id: str, name: str) -> object | None:
        """The current value of a state (a scalar, a protobuf message, or raw bytes), or None."""
        address = Address.of(typename, id)
        values = self._sync(lambda: self._engine.store.state(address, self.clock.now_ms()))
        if name not in values:
            return None
        value_typename, data = values[name]
        return codec.decode(value_typename, data)

    def egress(self, egress_name_or_typename: str) -> list[EgressRecord]:
        """The records written so far to an egress (by typename, name, or topic)."""
        declared = egress.find_egress(self.manifest, egress_name_or_typename)
        if declared is None:
            known = ", ".join(e.typename for e in self.manifest.egresses) or "none"
            raise LocalRuntimeError(
                f"unknown egress {egress_name_or_typename!r} (declared: {known})"
            )
        rows = self._sync(lambda: self._engine.store.egress_after(0))
        return [
            egress.decode(self.manifest, row) for row in rows if row.egress == declared.typename
        ]

    def close(self) -> None:
        """Stop the engine and its thread."""
        if self._loop.is_closed():
            return

        async def shutdown() -> None:
            await self._engine.close()
            self._engine.store.close()

        self._run(shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> Harness:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
