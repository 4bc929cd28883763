"""The scheduler: per address one request in flight, batches, the handshake, delayed messages.

It plays the part of StateFun's ``RequestReplyFunction`` (docs/statefun.md#applying-a-response,
#state-handshake, #delayed-messages): a message that
reaches an idle address goes out alone; the messages that arrive while a request is in
flight go out together as the next batch, at most ``max_batch`` of them. Each batch's
effects and the consumption of its input are applied together, in a savepoint of the
transaction that commits every batch answered in the same turn of the event loop
(:mod:`sfidl.local.group_commit`); observers hear of a batch once that committed.

Faults (:mod:`sfidl.local.faults`, for tests) are applied where a batch's outgoing messages
are routed, before its effects are committed: a message may be dropped or delayed.

Backpressure, as StateFun's ``maxNumBatchRequests``: while an address has ``max_batch``
messages queued, :meth:`Engine.room` makes the ingresses wait. Messages between functions
are never held back (nor are they in StateFun), so a fan-in can still queue more.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from operator import attrgetter

from statefun.request_reply_pb2 import FromFunction, TypedValue

from sfidl.local import codec
from sfidl.local.clock import Clock
from sfidl.local.effects import Effects, Failure, Routes, StateSpec, plan, register
from sfidl.local.errors import IngressError, LocalRuntimeError, StoreError
from sfidl.local.faults import Faults, Interference
from sfidl.local.group_commit import GroupCommit
from sfidl.local.records import Address
from sfidl.local.store import Incoming, IngressKey, Queued, Store, StoredEgress
from sfidl.local.to_function import build_request
from sfidl.local.transport import Transport, TransportError
from sfidl.runtime.manifest import Manifest
from sfidl.wire import ExpireMode

log = logging.getLogger("sfidl.local")

NO_EFFECTS = Effects((), (), (), ())
_TARGET = attrgetter("target")  # of an Incoming or an Outgoing, read in C
_FUNCTION = attrgetter("namespace", "type")  # of an Address
_ID = attrgetter("id")
# A function that keeps answering "missing state" for states it was given never gets anywhere.
MAX_HANDSHAKES = 8

DeliveryObserver = Callable[[Address, Sequence[Queued]], None]
EgressObserver = Callable[[Sequence[StoredEgress]], None]
FaultObserver = Callable[[Interference], None]


def unpack(argument: bytes) -> tuple[str, bytes]:
    """The typename and the value bytes of a serialized ``TypedValue``."""
    value = TypedValue()
    value.ParseFromString(argument)
    typename: str = value.typename
    data: bytes = value.value
    return typename, data


class Engine:
    """Delivers queued messages to the functions and applies their responses durably."""

    def __init__(
        self,
        manifest: Manifest,
        transport: Transport,
        store: Store,
        clock: Clock,
        *,
        max_batch: int = 1000,
        max_in_flight: int = 64,
        attempts: int = 1,
        retry_delay_s: float = 0.05,
        call_timeout_s: float = 60.0,
    ) -> None:
        """``attempts`` calls per request at most, all within ``call_timeout_s`` (StateFun's ``call`` timeout)."""
        if max_batch < 1 or max_in_flight < 1 or attempts < 1:
            raise ValueError("max_batch, max_in_flight and attempts must be at least 1")
        self.manifest = manifest
        self.store = store
        self.clock = clock
        self._routes = Routes(manifest)
        self._functions = self._routes.functions
        self._transport = transport
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._attempts = attempts
        self._retry_delay_s = retry_delay_s
        self._call_timeout_s = call_timeout_s
        self._registry: dict[str, dict[str, StateSpec]] = {}
        self._answered: set[str] = set()  # function types that answered a batch
        self._commits = GroupCommit(store)
        self._backlog: dict[Address, int] = store.backlog()
        self._last_sent = store.last_due()
        store.failure_observers.append(self._store_failed)
        self._full = {a for a, n in self._backlog.items() if n >= max_batch}
        self._drained = asyncio.Event()
        self._ready: dict[Address, None] = dict.fromkeys(self._backlog)
        self._busy: set[Address] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self._failure: BaseException | None = None
        self.delivery_observers: list[DeliveryObserver] = []
        self.egress_observers: list[EgressObserver] = []
        self.fault_observers: list[FaultObserver] = []
        self.faults = Faults()
        """Faults injected into the messages functions send (none unless a test adds some)."""

    # -- input -----------------------------------------------------------------------------

    def enqueue(
        self,
        messages: Sequence[Incoming],
        source: str | None = None,
        offset: int = 0,
        key: IngressKey | None = None,
    ) -> bool:
        """Queue ingress messages durably (with ``source``'s read ``offset`` in the same transaction).

        With an idempotency ``key`` already recorded, nothing is queued; returns whether it was.
        """
        targets = self._check_targets(messages)
        try:
            queued = self.store.enqueue(messages, source, offset, key, due_at=self._sent_at())
        except StoreError as exc:  # not queued, so not acknowledged; the engine stops on it
            raise IngressError(str(exc), status=503) from exc
        if queued:
            self._arrived(targets)
        return queued

    async def enqueue_grouped(
        self, messages: Sequence[Incoming], key: IngressKey | None = None
    ) -> bool:
        """:meth:`enqueue` in the next group commit, with the other writes of this turn of the
        event loop (each HTTP request's message would otherwise cost a commit of its own)."""
        targets = self._check_targets(messages)
        due_at = self._sent_at()
        try:
            queued = await self._commits.write(
                lambda: self.store.enqueue(messages, key=key, due_at=due_at)
            )
        except StoreError as exc:  # not queued, so not acknowledged; the engine stops on it
            raise IngressError(str(exc), status=503) from exc
        if queued:
            self._arrived(targets)
        return queued

    async def pop_egress(
        self, topic: str, egress: str | None = None, limit: int = 1
    ) -> list[StoredEgress]:
        """The oldest ``limit`` unread records of ``topic`` (of ``egress``, if given), marked as
        read in the next group commit; none at once, without a transaction, when there is none."""
        if not self.store.has_egress(topic, egress):
            return []
        return await self._commits.write(lambda: self.store.pop_egress(topic, egress, limit))

    def _check_targets(self, messages: Sequence[Incoming]) -> Counter[Address]:
        """How many of ``messages`` go to each target, once each target is checked."""
        targets = Counter(map(_TARGET, messages))
        bound = self._routes.function_keys.issuperset(map(_FUNCTION, targets))
        if bound and all(map(_ID, targets)):
            return targets  # checked in C; else the first target at fault is named below
        for target in targets:
            if target.typename not in self._functions:
                known = ", ".join(sorted(self._functions))
                raise IngressError(
                    f"unknown function type {target.typename!r} (known: {known})", status=404
                )
            if not target.id:
                raise IngressError(f"a message to {target.typename} needs a non-empty id")
        return targets

    def _sent_at(self) -> int:
        """Now, as the due time of a message sent now: never before one sent earlier, so
        messages from one sender keep their order should the wall clock step back."""
        self._last_sent = max(self._last_sent, self.clock.now_ms())
        return self._last_sent

    def _store_failed(self, failure: StoreError) -> None:
        if self._failure is None:
            self._failure = failure
        self._drained.set()
        self._wake.set()

    async def room(self) -> None:
        """Wait while an address has ``max_batch`` messages queued (the ingresses' backpressure)."""
        if self._full and not self._stopping and self._failure is None:
            log.info(
                "ingress paused: %s has %d messages queued", next(iter(self._full)), self._max_batch
            )
        while self._full and not self._stopping and self._failure is None:
            self._drained.clear()
            await self._drained.wait()

    def fire_due(self) -> int:
        """Queue the delayed messages due now; returns how many."""
        targets = self.store.fire_due(self.clock.now_ms())
        if targets:
            self._arrived(Counter(targets))
        return len(targets)

    # -- driving ---------------------------------------------------------------------------

    @property
    def quiet(self) -> bool:
        """Nothing queued and nothing in flight (delayed messages may still be pending)."""
        return not self._ready and not self._busy

    async def run_until_quiet(self) -> None:
        """Deliver until quiet, firing delayed messages that are due on the engine's clock."""
        while True:
            self._wake.clear()
            self._raise_failure()
            self.fire_due()
            self._dispatch()
            if self.quiet:
                return
            await self._wake.wait()

    async def run(self, max_sleep_s: float = 1.0) -> None:
        """Deliver until :meth:`stop`."""
        while True:
            self._wake.clear()
            self._raise_failure()
            if self._stopping:
                return
            self.fire_due()
            self._dispatch()
            next_fire = self.store.next_fire_at()
            sleep = max_sleep_s
            if next_fire is not None:
                sleep = min(sleep, max(0.0, (next_fire - self.clock.now_ms()) / 1000))
            try:
                await asyncio.wait_for(self._wake.wait(), sleep)
            except TimeoutError:
                pass

    def stop(self) -> None:
        """Make :meth:`run` return; batches in flight finish or re-run after a restart."""
        self._stopping = True
        self._wake.set()
        self._drained.set()

    def wake(self) -> None:
        self._wake.set()

    async def close(self) -> None:
        """Cancel batches in flight (their effects were not committed, so they simply re-run later)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _arrived(self, counts: Mapping[Address, int]) -> None:
        """``counts`` more messages queued for each address (a batch often sends many to one)."""
        backlog, busy, ready, limit = self._backlog, self._busy, self._ready, self._max_batch
        for address, count in counts.items():
            before = backlog.get(address, 0)
            backlog[address] = before + count
            if before < limit <= before + count:
                self._full.add(address)
            if address not in busy:
                ready[address] = None
        if counts:  # only when something came: the loops await it without yielding first
            self._wake.set()

    def _consumed(self, address: Address, count: int) -> None:
        left = self._backlog.pop(address, 0) - count
        if left > 0:
            self._backlog[address] = left
        if left < self._max_batch and address in self._full:
            self._full.discard(address)
            self._drained.set()

    def _dispatch(self) -> None:
        while self._ready and len(self._busy) < self._max_in_flight and self._failure is None:
            address = next(iter(self._ready))
            del self._ready[address]
            self._busy.add(address)
            task = asyncio.get_running_loop().create_task(self._drive(address))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _drive(self, address: Address) -> None:
        limit = 1  # a message reaching an idle address goes out alone, as in StateFun
        try:
            while self._failure is None and self._backlog.get(address):
                batch = self.store.batch(address, limit)
                if not batch:
                    break
                await self._invoke(address, batch)  # awaiting the commit lets the others go first
                limit = self._max_batch
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the loop that runs the engine
            self._failure = exc
            self._drained.set()
        finally:
            self._busy.discard(address)
            self._wake.set()

    async def _invoke(self, address: Address, batch: Sequence[Queued]) -> None:
        fail = Failure(
            address,
            len(batch),
            lambda n: [f"{unpack(q.argument)[0]} from {q.caller or 'ingress'}" for q in batch[:n]],
        )
        specs = self._registry.setdefault(address.typename, {})
        # What the batch sends is due when it went out: a reply to a call the callee got
        # before its caller's deadline stays ahead of the timeout, however late it commits.
        sent_at = self._sent_at()
        for _ in range(MAX_HANDSHAKES):
            values, expired = self.store.live_state(address, self.clock.now_ms())
            sent = set(specs)
            request = build_request(address, specs, values, batch)
            # The batches read in this turn of the event loop are all sent in the next: the
            # function's handler then runs for them one after another, as it does alone, not
            # each after the queue reads and the building of the next request (that made each
            # handling about 1.3x slower; benchmarks/local_runtime.py, docs/speed.md). Not
            # before a type's first answer: its handshake registers the states the requests
            # built meanwhile would lack, each then a handshake of its own.
            if specs or address.typename in self._answered:
                await asyncio.sleep(0)
            reply = await self._call(fail, address, request)
            kind = reply.WhichOneof("response")
            if kind == "incomplete_invocation_context":
                missing = reply.incomplete_invocation_context.missing_values
                if {pb.state_name for pb in missing} <= sent:
                    raise fail("the function reports missing states although all of them were sent")
                # Another address of this type may have registered them meanwhile: then this only retries.
                new = register(
                    fail, specs, lambda name: self.store.state_type(address.typename, name), missing
                )
                self.store.register(address.typename, new)
                specs.update((spec.name, spec) for spec in new)
                continue
            self._answered.add(address.typename)
            now = self.clock.now_ms()
            effects = NO_EFFECTS
            if kind == "invocation_result":
                effects = plan(
                    fail,
                    reply.invocation_result,
                    self._routes,
                    specs,
                    lambda token: self.store.token_pending(address, token),
                    now,
                )
            effects, interfered = self.faults.route(address, effects, now)
            # A state the batch writes gets its new expiry with the write: no update of its own.
            writes = {write.name for write in effects.state}
            touched = [
                (name, now + spec.ttl_ms)
                for name, spec in specs.items()
                if spec.expiry is ExpireMode.AFTER_CALL and name in values and name not in writes
            ]
            written = await self._commits.write(
                lambda: self.store.commit_batch(
                    address, batch, effects, touched, now, sent_at, expired=expired
                )
            )
            self._consumed(address, len(batch))
            if effects.messages:
                self._arrived(Counter(map(_TARGET, effects.messages)))
            for observe in self.delivery_observers:
                observe(address, batch)
            for interference in interfered:
                for observe_fault in self.fault_observers:
                    observe_fault(interference)
            if written:
                for observe_egress in self.egress_observers:
                    try:
                        observe_egress(written)
                    except OSError as exc:  # a full disk, a closed pipe: not a bug of ours
                        where = exc.filename or "the egress output"
                        raise LocalRuntimeError(
                            f"cannot write egress records to {where}: {exc.strerror or exc};"
                            " they are in the database (an --egress-dir file catches up when"
                            " sfidl run starts again)"
                        ) from exc
            return
        raise fail(f"the function still reports missing states after {MAX_HANDSHAKES} handshakes")

    async def _call(self, fail: Failure, address: Address, request: bytes) -> FromFunction:
        """The function's answer; failures are retried with a growing delay, as StateFun does."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._call_timeout_s
        attempt = 0
        while True:
            attempt += 1
            try:
                async with asyncio.timeout_at(deadline):
                    data = await self._transport.call(address, request)
                return _parse(fail, data)
            except TimeoutError:
                raise fail(
                    "failure forwarding a message to a remote function:"
                    f" no answer within the call timeout of {self._call_timeout_s:g} s"
                ) from None
            except TransportError as exc:
                delay = self._retry_delay_s * 2 ** (attempt - 1)
                if attempt >= self._attempts or loop.time() + delay >= deadline:
                    after = f" after {attempt} attempts" if attempt > 1 else ""
                    raise fail(
                        f"failure forwarding a message to a remote function{after}: {exc}"
                    ) from exc
                log.warning(
                    "%s: attempt %d failed (%s); retrying in %g s", address, attempt, exc, delay
                )
                await asyncio.sleep(delay)


def _parse(fail: Failure, data: bytes) -> FromFunction:
    try:
        reply = codec.parse(FromFunction, data)
    except codec.CodecError as exc:
        raise fail(f"the function answered bytes that are not a FromFunction: {exc}") from None
    assert isinstance(reply, FromFunction)
    return reply
