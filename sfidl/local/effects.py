"""A function's response turned into checked effects, or a :class:`JobFailure`.

Checks here are the ones that make the real StateFun runtime fail the job
(docs/statefun.md#state-handshake, #applying-a-response, #delayed-messages, #egress); they
run before anything is written, so a failing batch applies nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from operator import attrgetter, methodcaller
from typing import Any, NamedTuple

from google.protobuf.message import DecodeError
from statefun.kafka_egress_pb2 import KafkaProducerRecord
from statefun.kinesis_egress_pb2 import KinesisEgressRecord
from statefun.request_reply_pb2 import FromFunction

from sfidl.local.errors import JobFailure
from sfidl.local.records import Address
from sfidl.runtime.manifest import IoKind, Manifest
from sfidl.runtime.types import typename_of
from sfidl.wire import ExpireMode, is_typename

KAFKA_RECORD = typename_of(KafkaProducerRecord)
KINESIS_RECORD = typename_of(KinesisEgressRecord)
UNSET_TYPENAME = "io.statefun.types/unset"


@dataclass(frozen=True)
class StateSpec:
    """A registered state of a function type."""

    name: str
    typename: str
    expiry: ExpireMode
    ttl_ms: int


class Outgoing(NamedTuple):
    """A message a batch sends (a tuple: made by the thousand per second)."""

    target: Address
    argument: bytes  # a serialized TypedValue


@dataclass(frozen=True)
class DelayedSend:
    fire_at: int
    token: str  # "" for none
    target: Address
    argument: bytes


@dataclass(frozen=True)
class DelayedCancel:
    token: str


class EgressOut(NamedTuple):
    """An egress record a batch writes (a tuple: made by the thousand per second)."""

    egress: str
    topic: str
    key: str
    value: bytes


class StateWrite(NamedTuple):
    """A state a batch writes, or deletes (a tuple: made by the thousand per second)."""

    name: str
    typename: str | None  # None: delete
    value: bytes
    expires_at: int | None


class Effects(NamedTuple):
    """Everything one batch does, in the order the real runtime applies it (a tuple: one
    per batch, made in C; a frozen dataclass sets each field through object.__setattr__)."""

    messages: tuple[Outgoing, ...]
    delayed: tuple[DelayedSend | DelayedCancel, ...]
    egress: tuple[EgressOut, ...]
    state: tuple[StateWrite, ...]


class Failure:
    """Builds the :class:`JobFailure` messages of one batch, naming the address and its messages."""

    def __init__(self, address: Address, size: int, describe: Callable[[int], list[str]]) -> None:
        """``describe(n)`` names the first ``n`` messages of the batch of ``size`` (only called
        on a failure: most batches never need their description)."""
        self.address = address
        self._size = size
        self._describe = describe

    def __call__(self, why: str) -> JobFailure:
        more = f" and {self._size - 3} more" if self._size > 3 else ""
        shown = ", ".join(self._describe(3)) + more
        return JobFailure(
            f"function {self.address} (batch of {self._size} message(s): {shown}): {why}."
            " The real StateFun runtime fails the job here; nothing of this batch was applied."
        )


def register(
    fail: Failure,
    registered: Mapping[str, StateSpec],
    persisted: Callable[[str], str | None],
    missing: Sequence[Any],
) -> list[StateSpec]:
    """The new specs of an ``IncompleteInvocationContext``; a changed typename is fatal."""
    new: list[StateSpec] = []
    for pb in missing:
        name: str = pb.state_name
        typename: str = pb.type_typename or UNSET_TYPENAME
        if not is_typename(typename):
            raise fail(f"state {name!r} declares the malformed typename {typename!r}")
        known = registered[name].typename if name in registered else persisted(name)
        if known is not None and known != typename:
            raise fail(
                f"state {name!r} is registered with type {known!r} but the function now declares"
                f" {typename!r}; changing the type of a state is fatal, rename the state instead"
            )
        if name in registered:
            continue
        expiry = ExpireMode(pb.expiration_spec.mode)
        ttl: int = pb.expiration_spec.expire_after_millis
        new.append(StateSpec(name, typename, expiry, ttl if expiry is not ExpireMode.NONE else 0))
    return new


class Routes:
    """What :func:`plan` checks a response against, looked up once per runtime rather than
    per batch: the function types bound, and each egress by (namespace, type)."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self.functions = frozenset(manifest.functions)
        # The same as addresses' (namespace, type) pairs: a set of them is checked in C.
        self.function_keys = frozenset(Address.of(name, "")[:2] for name in self.functions)
        self.egresses: dict[tuple[str, str], _Egress] = {}
        for declared in manifest.egresses:
            namespace, _, type_ = declared.typename.rpartition("/")
            kafka = declared.kind is IoKind.KAFKA
            self.egresses[namespace, type_] = _Egress(
                declared.typename,
                declared.kind,
                KAFKA_RECORD if kafka else KINESIS_RECORD,
                KafkaProducerRecord if kafka else KinesisEgressRecord,
                _KAFKA_FIELDS if kafka else _KINESIS_FIELDS,
            )


class _Egress(NamedTuple):
    typename: str
    kind: IoKind
    record_typename: str  # what the SDK wraps the record in: a Kafka or a Kinesis record
    record: type[KafkaProducerRecord] | type[KinesisEgressRecord]
    fields: Callable[[Any], tuple[str, str, bytes]]  # a record's topic, key and value


_KAFKA_FIELDS = attrgetter("topic", "key", "value_bytes")
_KINESIS_FIELDS = attrgetter("stream", "partition_key", "value_bytes")
# A message's target, then its fields: each read of "target.namespace" makes the target's
# Python object again.
_TARGET = attrgetter("target")
_ADDRESS_KEY = attrgetter("namespace", "type", "id")
_SERIALIZED_ARGUMENT = methodcaller("SerializeToString")
_ARGUMENT = attrgetter("argument")
# An Outgoing made in C from a (target, argument) tuple (its own constructor is Python).
_outgoing = partial(tuple.__new__, Outgoing)
_egress_out = partial(tuple.__new__, EgressOut)
_state_write = partial(tuple.__new__, StateWrite)
_effects = partial(tuple.__new__, Effects)
_DELETE = FromFunction.PersistedValueMutation.DELETE
_MODIFY = FromFunction.PersistedValueMutation.MODIFY


def plan(
    fail: Failure,
    response: Any,
    routes: Routes,
    specs: Mapping[str, StateSpec],
    token_pending: Callable[[str], bool],
    now_ms: int,
) -> Effects:
    """Check an ``InvocationResponse`` and turn it into :class:`Effects`."""
    # A batch mostly sends to few addresses: each is checked, and its Address made, once.
    seen: dict[tuple[str, str, str], Address] = {}

    def target(pb: Any, what: str) -> Address:
        key = (pb.namespace, pb.type, pb.id)
        return seen.get(key) or check(key, what)

    def check(key: tuple[str, str, str], what: str) -> Address:
        address = Address(*key)
        if address.typename not in routes.functions:
            raise fail(f"{what} to {address}: no function type {address.typename!r} is bound")
        if not address.id:
            raise fail(f"{what} to {address.typename} has an empty id")
        seen[key] = address
        return address

    messages: tuple[Outgoing, ...] = ()
    outgoing = response.outgoing_messages
    if outgoing:
        # Each message's target and argument taken in C (maps), the Python code running once
        # per distinct target: a batch may send thousands.
        keys = list(map(_ADDRESS_KEY, map(_TARGET, outgoing)))
        for key in dict.fromkeys(keys):  # in order: the first bad target is the one named
            check(key, "a message")
        arguments = map(_SERIALIZED_ARGUMENT, map(_ARGUMENT, outgoing))
        messages = tuple(map(_outgoing, zip(map(seen.__getitem__, keys), arguments)))
    egresses = response.outgoing_egresses
    return _effects(
        (
            messages,
            _delayed(fail, response.delayed_invocations, target, token_pending, now_ms),
            _egress(fail, egresses, routes) if egresses else (),
            _mutations(fail, response.state_mutations, specs, now_ms),
        )
    )


def _delayed(
    fail: Failure,
    delayed: Sequence[Any],
    target: Callable[[Any, str], Address],
    token_pending: Callable[[str], bool],
    now_ms: int,
) -> tuple[DelayedSend | DelayedCancel, ...]:
    added: set[str] = set()
    cancelled: set[str] = set()
    out: list[DelayedSend | DelayedCancel] = []
    for d in delayed:
        token: str = d.cancellation_token
        if d.is_cancellation_request:
            if not token:
                raise fail("a delayed-message cancellation has an empty cancellation token")
            added.discard(token)
            cancelled.add(token)
            out.append(DelayedCancel(token))
            continue
        delay: int = d.delay_in_ms
        if delay < 0:
            raise fail(f"a delayed message has the negative delay {delay} ms")
        if token and (token in added or (token not in cancelled and token_pending(token))):
            raise fail(
                f"a delayed message reuses the cancellation token {token!r}, which is still pending"
                " for this address; tokens must be unique per sender (or cancel first)"
            )
        if token:
            added.add(token)
        out.append(
            DelayedSend(
                now_ms + delay,
                token,
                target(d.target, "a delayed message"),
                d.argument.SerializeToString(),
            )
        )
    return tuple(out)


def _egress(fail: Failure, egresses: Sequence[Any], routes: Routes) -> tuple[EgressOut, ...]:
    out: list[EgressOut] = []
    key: tuple[str, str] | None = None  # a batch mostly writes to one egress: looked up once
    for pb in egresses:
        if key != (pb.egress_namespace, pb.egress_type):
            key = (pb.egress_namespace, pb.egress_type)
            found = routes.egresses.get(key)
            if found is None:
                egress_id = f"{pb.egress_namespace}/{pb.egress_type}"
                known = ", ".join(e.typename for e in routes.manifest.egresses) or "none"
                raise fail(f"unknown egress {egress_id!r} (declared: {known})")
            declared = found
        argument = pb.argument
        if argument.typename != declared.record_typename:
            raise fail(
                f"egress {declared.typename!r} ({declared.kind.value}) got a record of type"
                f" {argument.typename!r}, expected {declared.record_typename!r}"
            )
        record = declared.record()
        try:
            record.ParseFromString(argument.value)
        except DecodeError as exc:
            raise fail(
                f"egress {declared.typename!r} got a malformed {argument.typename}: {exc}"
            ) from None
        out.append(_egress_out((declared.typename, *declared.fields(record))))
    return tuple(out)


def _mutations(
    fail: Failure, mutations: Sequence[Any], specs: Mapping[str, StateSpec], now_ms: int
) -> tuple[StateWrite, ...]:
    out: list[StateWrite] = []
    for pb in mutations:
        name: str = pb.state_name
        spec = specs.get(name)
        if spec is None:
            raise fail(
                f"a mutation of the state {name!r}, which the function never registered (Accessing a non-existing function state)"
            )
        kind = pb.mutation_type
        if kind == _DELETE:
            out.append(_state_write((name, None, b"", None)))
            continue
        if kind != _MODIFY:
            raise fail(f"a mutation of the state {name!r} has the unknown mutation type {kind}")
        value = pb.state_value
        typename: str = value.typename
        if typename != spec.typename:
            raise fail(
                f"state {name!r} is registered with type {spec.typename!r} but was written as {typename!r}"
            )
        expires_at = None if spec.expiry is ExpireMode.NONE else now_ms + spec.ttl_ms
        out.append(_state_write((name, typename, value.value, expires_at)))
    return tuple(out)
