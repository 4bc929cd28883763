"""The in-process test harness: the local runtime's engine on an in-memory database and a virtual clock.

Example::

    with Harness(app) as h:
        h.send("shop/user_cart", "alice", AddToCart(item_id="socks", quantity=2))
        h.run_until_quiet()
        h.advance(timedelta(hours=1))            # fires timers, expires state
        assert h.state("shop/user_cart", "alice", "cart") == Cart()   # its default again
        assert [r.value for r in h.egress("receipts")] == [...]

Faults make every ``Timeout`` branch testable: ``h.slow(typename, delay)`` delivers what
functions send to ``typename`` late on the virtual clock, ``h.silence(typename)`` drops it
all, ``h.lose(typename, count=1)`` drops the next one; each returns a :class:`Fault` to
``remove()`` or to scope with ``with``, and ``h.faulted`` records what they touched.
Faults apply to messages functions send (calls, replies, one-way sends), never to those
given to ``send``/``ingest`` nor to timers and call timeouts; where several match a
message, the one added last decides; a delayed message is overtaken by later ones that
are not delayed, as on a real network.

The API is synchronous: the engine runs on an event loop in a private thread, so the
harness works the same from plain and from async tests.
"""

from __future__ import annotations

import asyncio
import builtins
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Literal, TypeVar

from google.protobuf.message import Message

from sfidl.local import codec, egress, ingress
from sfidl.local.app import DeclaresStates, LocalApp
from sfidl.local.clock import EPOCH, MILLISECOND, VirtualClock
from sfidl.local.effects import Effects, StateWrite
from sfidl.local.engine import Engine, unpack
from sfidl.local.errors import LocalRuntimeError
from sfidl.local.faults import Action, Fault, Interference
from sfidl.local.records import Address, Delivery, EgressRecord, Faulted
from sfidl.local.store import Incoming, Queued, Store
from sfidl.local.transport import InProcess
from sfidl.runtime.app import Application
from sfidl.runtime.manifest import Manifest
from sfidl.runtime.state import State, StateField
from sfidl.runtime.types import typename_of
from sfidl.wire import STATE_SCALARS, message_typename

__all__ = ["Delivery", "EgressRecord", "Fault", "Faulted", "Harness"]

# The Python type of the values of each SDK scalar type, by typename.
_SCALARS = {s.typename: getattr(builtins, s.python) for s in STATE_SCALARS.values()}


def _is_of(statefun_type: Any, value: object) -> bool:
    """Whether ``value`` is of the SDK type ``statefun_type``: a message of its typename,
    or a scalar of its Python type."""
    if isinstance(value, Message):
        return typename_of(type(value)) == str(statefun_type.typename)
    scalar = _SCALARS.get(statefun_type.typename)
    return scalar is not None and type(value) is scalar


T = TypeVar("T")

MessageType = str | type[Message] | None
"""Selects messages by type: a protobuf class, a typename, a protobuf full name; None: all."""


class Harness:
    """Drives an application as the StateFun runtime would, deterministically, on virtual time.

    Messages given to :meth:`send` and :meth:`ingest` are queued; :meth:`run_until_quiet`
    and :meth:`advance` deliver them. A function error or a response the real runtime would
    reject raises from those calls (a :class:`~sfidl.local.errors.JobFailure`).

    Time: the application's handlers read the virtual clock (``ctx.now``: an application
    with ``use_clock`` is given it), and it moves only in :meth:`advance`. While an
    invocation awaits (an ``async`` handler sleeping or doing I/O) the harness waits for it
    in real time and virtual time stands still: it cannot know what the handler awaits, and
    moving time under it would make a test's outcome depend on real-time scheduling. So an
    ``asyncio.sleep`` in a callee never times out its caller here; a callee that answers
    after the caller's timeout is made with :meth:`slow` (or :meth:`silence`,
    :meth:`lose`), then :meth:`advance` past the timeout: the caller's continuation gets
    ``Timeout`` and the late reply is dropped, deterministically. (Under ``sfidl run``, on
    the wall clock, the engine fires due timeouts while another instance's invocation is
    in flight, so there a callee that really sleeps past the timeout has the same effect.)
    """

    def __init__(self, app: LocalApp, *, start: datetime | None = None) -> None:
        self.manifest: Manifest = app.manifest
        self._app = app
        self.clock = VirtualClock(start)
        self._transport = InProcess(app, self.clock)
        self.sent: list[Delivery] = []
        """Every message delivered so far, in delivery order."""
        self.faulted: list[Faulted] = []
        """Every message a fault (:meth:`slow`, :meth:`silence`, :meth:`lose`) dropped or delayed, in order."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="sfidl-harness", daemon=True
        )
        self._thread.start()
        self._engine = self._run(self._open(app))

    async def _open(self, app: LocalApp) -> Engine:
        engine = Engine(app.manifest, self._transport, Store(":memory:"), self.clock)
        engine.delivery_observers.append(self._delivered)
        engine.fault_observers.append(self._interfered)
        return engine

    def _delivered(self, target: Address, batch: Sequence[Queued]) -> None:
        for queued in batch:
            typename, value = unpack(queued.argument)
            self.sent.append(
                Delivery(target, queued.caller, typename, codec.decode(typename, value))
            )

    def _interfered(self, event: Interference) -> None:
        typename, value = unpack(event.argument)
        action: Literal["dropped", "delayed"] = (
            "delayed" if event.action is Action.DELAY else "dropped"
        )
        self.faulted.append(
            Faulted(
                action,
                event.target,
                event.sender,
                typename,
                codec.decode(typename, value),
                EPOCH + event.at_ms * MILLISECOND,
                event.delay_ms * MILLISECOND,
            )
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

    # -- faults ----------------------------------------------------------------------------

    def slow(
        self,
        function: str,
        delay: timedelta,
        *,
        id: str | None = None,
        message: MessageType = None,
    ) -> Fault:
        """Make ``function`` (``namespace/type``) a slow callee: messages functions send it arrive ``delay`` late.

        The delay is virtual: a delayed message arrives when :meth:`advance` reaches it, so a
        caller whose call times out first sees ``Timeout`` and the late reply is dropped.
        ``id`` limits it to one instance, ``message`` to one message type (for a call, its
        envelope, e.g. ``pb.MerchantScorerScoreCall``). Returns the :class:`Fault`:
        ``.remove()`` it, or scope it with ``with h.slow(...):``.
        """
        if delay < MILLISECOND:
            raise ValueError(f"slow({function!r}, {delay!r}): a delay is at least 1 ms")
        typename = self._fault_scope(function, message)
        return self._sync(
            lambda: self._engine.faults.delay(
                function, delay // MILLISECOND, id=id, typename=typename
            )
        )

    def silence(
        self, function: str, *, id: str | None = None, message: MessageType = None
    ) -> Fault:
        """Make ``function`` a silent callee: every message functions send it is dropped, so it never answers.

        ``id`` and ``message`` narrow it as for :meth:`slow`; returns the :class:`Fault`.
        """
        typename = self._fault_scope(function, message)
        return self._sync(lambda: self._engine.faults.drop(function, id=id, typename=typename))

    def lose(
        self,
        function: str,
        count: int = 1,
        *,
        id: str | None = None,
        message: MessageType = None,
    ) -> Fault:
        """Drop the next ``count`` messages functions send to ``function``; later ones arrive.

        ``id`` and ``message`` narrow it as for :meth:`slow`; returns the :class:`Fault`.
        """
        typename = self._fault_scope(function, message)
        return self._sync(
            lambda: self._engine.faults.drop(function, count, id=id, typename=typename)
        )

    def _fault_scope(self, function: str, message: MessageType) -> str | None:
        """The typename ``message`` selects, once ``function`` is known to be a function type."""
        self._check_function(function)
        if message is None or isinstance(message, str) and "/" in message:
            return message
        if isinstance(message, str):
            return message_typename(message)
        return typename_of(message)

    def _check_function(self, typename: str) -> None:
        if typename not in self.manifest.functions:
            known = ", ".join(sorted(self.manifest.functions))
            raise LocalRuntimeError(f"unknown function type {typename!r} (known: {known})")

    # -- inspection --------------------------------------------------------------------------

    def state(self, typename: str, id: str, name: str, *, previous: bool = False) -> object | None:
        """The current value of a state: a scalar, a protobuf message, or raw bytes.

        A state never written, deleted or expired reads as in a handler: its declared
        default (the scalar default, or an empty message of its type). A name the function
        does not declare raises :class:`LocalRuntimeError`. Reserved ``sfidl…`` states (the
        hidden runtime state) and the states of an application that does not declare them
        (a plain SDK one) read as stored, None when absent.

        A migrated state (``migrate from``) reads as stored in its new type; its value of
        the previous version, until a handler's first read upgrades it, with
        ``previous=True`` (None when there is none).
        """
        self._check_function(typename)
        defaults = self._declared_states(typename)
        if defaults is not None and name not in defaults and not name.startswith("sfidl"):
            declared = ", ".join(defaults) or "none"
            raise LocalRuntimeError(
                f"{typename} declares no state {name!r} (it declares: {declared})"
            )
        stored_as = name
        if previous or isinstance(self._app, Application) and name in (defaults or ()):
            field = self._state_field(typename, name)
            if previous and field.previous_type is None:
                raise LocalRuntimeError(
                    f"state {name!r} of {typename} has no previous type: it declares no "
                    "`migrate from`"
                )
            stored_as = field.name if previous else field.stored_as
        address = Address.of(typename, id)
        values = self._sync(lambda: self._engine.store.state(address, self.clock.now_ms()))
        if stored_as in values:
            value_typename, data = values[stored_as]
            return codec.decode(value_typename, data)
        return None if defaults is None or previous else defaults.get(name)

    def seed_state(
        self, typename: str, id: str, name: str, value: object, *, previous: bool = False
    ) -> None:
        """Store ``value`` as state ``name`` of instance ``id``, as a handler would have.

        ``previous=True`` stores it as the previous version did, in the type the state
        migrates from (``state cart: CartV2 migrate from Cart;``, so a ``Cart``): the
        instance's next read upgrades it with the function's ``migrate_cart``. Needs the
        sfidl :class:`~sfidl.runtime.Application` (it knows the declared types).
        """
        self._check_function(typename)
        field = self._state_field(typename, name)
        spec = field.previous_spec() if previous else field.value_spec()
        if spec is None:
            raise LocalRuntimeError(
                f"state {name!r} of {typename} has no previous type: it declares no "
                "`migrate from`"
            )
        if not previous:
            value = field.accept(value, "not")
        elif not _is_of(spec.type, value):
            raise LocalRuntimeError(
                f"state {name!r} of {typename} migrates from {spec.type.typename}, "
                f"not {type(value).__name__}"
            )
        data = spec.type.serializer().serialize(value)
        registered = self._sync(lambda: self._engine.store.state_type(typename, spec.name))
        if registered not in (None, spec.type.typename):
            raise LocalRuntimeError(
                f"state {spec.name!r} of {typename} is registered with type {registered!r}"
            )
        now = self.clock.now_ms()
        ttl = field.expire_after_write or field.expire_after_call
        expires_at = None if ttl is None else now + ttl // MILLISECOND
        write = StateWrite(spec.name, spec.type.typename, data, expires_at)
        effects = Effects(messages=(), delayed=(), egress=(), state=(write,))
        address = Address.of(typename, id)
        self._sync(lambda: self._engine.store.commit_batch(address, [], effects, [], now))

    def _state_field(self, typename: str, name: str) -> StateField[Any]:
        if not isinstance(self._app, Application):
            raise LocalRuntimeError("seeded and migrated states need an sfidl Application")
        state: type[State] = self._app.function_spec(typename).state
        fields = state.sfidl_states()
        field = next((f for f in fields if f.name == name), None)
        if field is None:
            declared = ", ".join(f.name for f in fields) or "none"
            raise LocalRuntimeError(
                f"{typename} declares no state {name!r} (it declares: {declared})"
            )
        return field

    def _declared_states(self, typename: str) -> Mapping[str, object] | None:
        if not isinstance(self._app, DeclaresStates):
            return None
        return self._app.state_defaults(typename)

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
        """Stop the engine and its thread; the application reads the wall clock again."""
        if self._loop.is_closed():
            return

        async def shutdown() -> None:
            await self._engine.close()
            self._engine.store.close()
            await self._transport.close()

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
