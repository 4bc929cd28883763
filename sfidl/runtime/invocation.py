"""One invocation of a function: the SDK's context plus sfidl's bookkeeping around it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NoReturn

import statefun
from google.protobuf import json_format
from google.protobuf.message import Message

from sfidl.runtime.errors import UndeclaredEffect
from sfidl.runtime.internal_pb2 import DeadLetter, RuntimeState
from sfidl.runtime.manifest import EgressManifest, IoKind, Manifest
from sfidl.runtime.spec import NO_EFFECTS, Effects, FunctionSpec, RequestReply
from sfidl.runtime.types import encode, protobuf_type, typed_message
from sfidl.wire import Address

log = logging.getLogger("sfidl.runtime")

# The hidden state every sfidl function has; lower case, as the SDK requires.
RUNTIME_STATE = "sfidl_runtime"

# The playground image's one egress, and the typename of the records it accepts.
PLAYGROUND_EGRESS = "io.statefun.playground/egress"
_PLAYGROUND_RECORD = statefun.make_json_type("io.statefun.playground/EgressRecord")

# The partition key of a dead letter whose function id Kinesis would refuse.
DEAD_LETTER_KEY = "sfidl.dead-letter"


_ZERO = timedelta(0)


def wall_clock_ms() -> int:
    """Milliseconds since the epoch, by this machine's clock: the production default."""
    return time.time_ns() // 1_000_000


@dataclass
class Deployment:
    """How the application is deployed: what its egress writes must look like, its clock."""

    manifest: Manifest
    # Egress records for the StateFun playground image instead of Kafka/Kinesis.
    playground: bool = False
    # What `ctx.now` and call deadlines read (Application.use_clock replaces it).
    now_ms: Callable[[], int] = field(default=wall_clock_ms)
    # Function typename -> migrated state -> the implementation's `migrate_<state>`.
    upgrades: dict[str, dict[str, Callable[[Any], Any]]] = field(default_factory=dict)


# What each effect kind is called in the IDL, for the UndeclaredEffect message.
_DECLARATION = {
    "calls": "calls ... -> {}",
    "sends": "sends {}.{}",
    "emits": "emits {}",
    "timers": "sets {}",
    "completes": "completes {}",
}


class Invocation:
    """The effects of one handler call, queued on the SDK's context.

    Message-typed state read during the call is kept here and written back by
    :meth:`finish` when it changed, so ``ctx.state.cart.items["x"] = 1`` persists like
    an assignment would.

    ``message`` is the SDK's ``TypedValue`` being handled and ``sender`` its sender (the
    SDK's address, or an :class:`Address` for a message an exclusive instance held: the one
    it arrived with, not the current batch's); ``caller`` is the same as an
    :class:`Address`. Dispatch sets ``member`` and ``effects`` before user code runs;
    ``answering`` and ``envelope`` while a request/reply handler runs. ``runtime_changed``
    says the hidden state changed (:meth:`changing` sets it; so does a hot path that
    changed what :attr:`runtime` gave it).

    One is made per message handled, so it holds what the SDK already has (its address,
    the sender) as is and makes :class:`Address` objects only when asked for one; what
    most invocations never set has its default here, on the class.
    """

    member = ""
    effects: Effects = NO_EFFECTS
    answering: RequestReply | None = None
    envelope: Any = None  # the call envelope being answered
    deferred: Any = None  # the replies.Deferred this invocation made, if any
    releases = False
    # Message-typed states read, by stored name: the value and its bytes as read. Made at
    # the first read (most invocations read none).
    loaded: dict[str, tuple[Message, bytes]] | None = None
    _runtime: RuntimeState | None = None
    runtime_changed = False
    _address: Address | None = None

    # The function invoked and its deployment: class attributes of the subclass
    # :func:`invocation_class` makes per function, not set on every invocation.
    spec: FunctionSpec
    deployment: Deployment

    def __init__(self, sdk: Any, message: Any, sender: Any) -> None:
        self.sdk = sdk
        self.message = message
        # Anything with ``typename`` and ``id`` (the SDK's address or ours); None: an ingress.
        self.sender = sender

    @property
    def address(self) -> Address:
        """This function instance."""
        address = self._address
        if address is None:
            sdk = self.sdk.address
            address = self._address = Address(sdk.namespace, sdk.name, sdk.id)
        return address

    @property
    def caller(self) -> Address | None:
        """The sender of the message being handled; None for an ingress."""
        sender = self.sender
        if sender is None or isinstance(sender, Address):
            return sender
        return Address.from_sdk(sender)

    def is_from(self, typename: str, id: str) -> bool:
        """Whether the message being handled was sent by instance ``id`` of ``typename``."""
        sender = self.sender
        return sender is not None and sender.id == id and sender.typename == typename

    def is_from_itself(self) -> bool:
        """Whether this instance sent the message being handled (a delayed self-message)."""
        here = self.sdk.address
        return self.is_from(here.typename, here.id)

    # -- what the running member declared -------------------------------------------

    def require(self, kind: str, what: Any) -> None:
        """Raise UndeclaredEffect unless the running member declared ``kind`` ``what``.

        ``kind`` is a field of :class:`Effects`; the one place every effect is checked.
        """
        if what not in getattr(self.effects, kind):
            args = what if isinstance(what, tuple) else (what,)
            self.refuse(f"did not declare `{_DECLARATION[kind].format(*args)}`")

    def refuse(self, what: str) -> NoReturn:
        """Fail the invocation with UndeclaredEffect: ``<function>.<member> <what>``."""
        raise UndeclaredEffect(f"{self.spec.typename}.{self.member} {what}")

    def now_ms(self) -> int:
        """The deployment's clock, in milliseconds since the epoch."""
        return self.deployment.now_ms()

    # -- state -----------------------------------------------------------------------

    def read(self, name: str) -> Any:
        return getattr(self.sdk.storage, name)

    def write(self, name: str, value: Any) -> None:
        setattr(self.sdk.storage, name, value)

    def delete(self, name: str) -> None:
        delattr(self.sdk.storage, name)

    @property
    def runtime(self) -> RuntimeState:
        """The hidden state, to read: pending calls and replies, held messages, the counter.

        Change it through :meth:`changing`, which marks it for writing back, or set
        :attr:`runtime_changed` beside the change (as the hot paths do: a call less): so the
        hidden state is decoded at most once per invocation and serialized once (by the
        SDK) when it changed, never when it did not. An unmarked change is never written
        back (tests/runtime checks every test for one). A function that keeps no hidden
        state (:func:`keeps_runtime_state`) reads it as empty.
        """
        runtime = self._runtime
        if runtime is None:
            # None when the function keeps no hidden state (it registers none: self.read raises)
            stored = getattr(self.sdk.storage, RUNTIME_STATE, None)
            runtime = self._runtime = stored if stored is not None else RuntimeState()
        return runtime

    def changing(self) -> RuntimeState:
        """The hidden state, to change: it is written back when the invocation finishes."""
        self.runtime_changed = True
        return self.runtime

    def next_id(self) -> int:
        """A number never handed out before by this function instance."""
        self.runtime_changed = True
        runtime = self.runtime
        value: int = runtime.next_id
        runtime.next_id = value + 1
        return value

    def finish(self) -> None:
        """Write back the hidden state if it changed, and message states changed in place.

        Sets ``releases``: whether messages are held while nothing is pending any more
        (only known when the hidden state was read, which any change to it requires).
        """
        runtime = self._runtime
        if runtime is not None:
            if self.runtime_changed:
                setattr(self.sdk.storage, RUNTIME_STATE, runtime)  # self.write, one call less
            if runtime.held and not runtime.pending and not runtime.replies:
                self.releases = True
        loaded = self.loaded
        if loaded:
            for name, (value, before) in loaded.items():
                if encode(value) != before:
                    self.write(name, value)

    # -- messages --------------------------------------------------------------------

    def send(self, typename: str, id: str, message: Message) -> None:
        """Send ``message`` to instance ``id`` of the function type ``typename``."""
        # What statefun.message_builder(value=, value_type=protobuf_type(...)) builds, minus
        # its argument juggling: this runs for every message sent.
        self.sdk.send(statefun.Message(typename, id, typed_message(message)))

    def send_self_after(self, delay: timedelta, message: Message, token: str) -> None:
        """Send ``message`` to this same instance once ``delay`` has passed (cancellable by ``token``)."""
        if delay < _ZERO:
            raise ValueError(f"a delay cannot be negative, got {delay}")
        here = self.sdk.address
        self.sdk.send_after(
            delay, statefun.Message(here.typename, here.id, typed_message(message)), token
        )

    def cancel(self, token: str) -> None:
        self.sdk.cancel_delayed_message(token)

    # -- egress ----------------------------------------------------------------------

    def emit(self, egress: str, message: Message, key: str | None) -> None:
        """Write ``message`` to the egress with id ``egress``; the key defaults to this id."""
        target = self.deployment.manifest.egress(egress)
        if target is None:
            raise KeyError(f"{egress} is not an egress of this application")
        if self.deployment.playground:
            self.sdk.send_egress(_playground_record(target, message))
        elif target.kind is IoKind.KAFKA:
            self.sdk.send_egress(
                statefun.kafka_egress_message(
                    typename=target.typename,
                    topic=target.sink,
                    value=encode(message),
                    key=self.address.id if key is None else key,
                )
            )
        else:
            self.sdk.send_egress(
                statefun.kinesis_egress_message(
                    typename=target.typename,
                    stream=target.sink,
                    value=encode(message),
                    partition_key=self._kinesis_key(egress, key),
                )
            )

    def _kinesis_key(self, egress: str, key: str | None) -> str:
        # Kinesis refuses any other key, and the egress then fails the StateFun job.
        rule = "a Kinesis partition key must be 1 to 256 UTF-16 code units"
        if key is None:
            if not is_kinesis_key(self.address.id):
                raise ValueError(f"{rule}, which this function's id is not: pass key= to {egress}")
            return self.address.id
        if not is_kinesis_key(key):
            raise ValueError(f"{rule}, got {key!r:.40}")
        return key

    def dead_letter(self, reason: str) -> None:
        """Set aside the message being handled: logged, and written to the dead-letter egress if any."""
        typed = self.message
        log.warning(
            "%s: dropped a message of type %r from %s: %s",
            self.address,
            typed.typename,
            self.caller or "an ingress",
            reason,
        )
        target = next((e for e in self.deployment.manifest.egresses if e.dead_letters), None)
        if target is None:
            return
        letter = DeadLetter(
            function_typename=self.address.typename,
            function_id=self.address.id,
            caller=str(self.caller) if self.caller else "",
            message_typename=typed.typename,
            message_value=typed.value,
            reason=reason,
        )
        key = self.address.id
        if target.kind is IoKind.KINESIS and not is_kinesis_key(key):
            key = DEAD_LETTER_KEY  # a dead letter must never fail: any valid key will do
        self.emit(target.typename, letter, key)


def _playground_record(target: EgressManifest, message: Message) -> Any:
    """The record the StateFun playground image's egress takes: JSON with topic and payload."""
    return statefun.egress_message_builder(
        target_typename=PLAYGROUND_EGRESS,
        value={
            "topic": target.sink,
            "payload": json_format.MessageToJson(
                message, indent=None, preserving_proto_field_name=True
            ),
        },
        value_type=_PLAYGROUND_RECORD,
    )


def is_kinesis_key(key: str) -> bool:
    """Whether Kinesis accepts ``key`` as a partition key (1 to 256 UTF-16 code units)."""
    return 1 <= len(key.encode("utf-16-le")) // 2 <= 256


def invocation_class(spec: FunctionSpec, deployment: Deployment) -> type[Invocation]:
    """The class of the invocations of function ``spec`` in ``deployment``.

    The function and its deployment are its class attributes, so that making an
    invocation (once per message) does not store them: about 7 bytecodes a message, 21
    to 28 (0.6%) a round trip, without which the deferred reply's would be more than 1.1
    times the hand-written version's in benchmarks/call_roundtrip.py.
    """
    name = f"Invocation[{spec.typename}]"
    return type(name, (Invocation,), {"spec": spec, "deployment": deployment})


def keeps_runtime_state(spec: FunctionSpec) -> bool:
    """Whether instances of the function keep the hidden state: whether it calls, sets
    timers (their ids come from its counter), defers replies or holds messages.

    Any other function registers no hidden state, so StateFun neither stores nor sends
    one for it. A version that stops keeping it loses what an earlier one recorded there:
    pending calls and deferred replies (their timeouts and expiries arrive to a function
    that no longer knows them: logged as dropped), messages an exclusive instance held
    (never run). StateFun keeps the old value in its keyed state, and a later version that
    registers it again gets that stale value back. Every way to get here removes a
    continuation or a deferred reply, which ``sfidl breaking`` reports
    (CONTINUATION_NO_DELETE, DEFERRED_REPLY_REMOVED; held messages need one of them
    pending).
    """
    return bool(
        spec.continuations
        or spec.timers
        or spec.exclusive
        or any(isinstance(h, RequestReply) and h.defers for h in spec.handlers)
    )


def runtime_state_spec() -> Any:
    """The SDK ``ValueSpec`` of the hidden state."""
    return statefun.ValueSpec(name=RUNTIME_STATE, type=protobuf_type(RuntimeState))
