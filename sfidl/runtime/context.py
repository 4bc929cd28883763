"""The typed context a handler gets, and the parts generated contexts are made of.

A generated context offers exactly what the IDL declared for the member it is given to:
``ctx.state`` (typed state), ``ctx.functions`` (clients for the declared calls and sends),
``ctx.egress`` (the declared egresses), ``ctx.timers``, ``ctx.joins`` and ``ctx.replies``
(the deferred replies it may complete). The classes here do the work; the generated
subclasses only name and type it. Every effect is also checked at run time against the
running member's declaration (:meth:`Invocation.require`), for untyped code.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, NewType, TypeVar

from google.protobuf.message import Message

from sfidl.runtime import calls, replies
from sfidl.runtime.internal_pb2 import TimerFired
from sfidl.runtime.invocation import Invocation
from sfidl.runtime.part import Part
from sfidl.runtime.replies import Deferred, PendingReplies
from sfidl.runtime.spec import Rpc
from sfidl.wire import Address

M = TypeVar("M", bound=Message)
Req = TypeVar("Req", bound=Message)
Rep = TypeVar("Rep", bound=Message)

# The parts a generated context may lack, and what a member declares to get each.
_PART_DECLARATIONS = {
    "functions": "`calls` or `sends`",
    "joins": "joined `calls (...)`",
    "egress": "`emits`",
    "timers": "`sets`",
    "replies": "`completes`",
}

TimerId = NewType("TimerId", str)
"""Identifies one pending timer, to cancel it; it can be kept in state."""

# Timer ids are this prefix and a number unique per instance (the hidden state's counter).
_TIMER_TOKEN = "sfidl.timer."


class Context:
    """What a handler of a function may see and do during one invocation."""

    __slots__ = ("_invocation",)

    def __init__(self, invocation: Invocation) -> None:
        self._invocation = invocation

    @property
    def address(self) -> Address:
        """This function instance."""
        return self._invocation.address

    @property
    def id(self) -> str:
        """This function instance's id (``ctx.address.id``)."""
        return self._invocation.sdk.address.id  # type: ignore[no-any-return]

    @property
    def caller(self) -> Address | None:
        """The function that sent the message being handled; None for an ingress."""
        return self._invocation.caller

    @property
    def now(self) -> datetime:
        """The current time (UTC) by the deployment's clock: virtual under the Harness."""
        return datetime_of_millis(self._invocation.now_ms())

    @property
    def call_id(self) -> str | None:
        """In a request/reply handler, a key unique to the call it answers; None elsewhere.

        A redelivered call has the same key: keep the keys handled in state to answer a
        call only once (a caller that timed out may retry it, or it may still arrive).
        """
        envelope = self._invocation.envelope
        if envelope is None:
            return None
        return f"{envelope.correlation_id}@{self._invocation.caller}"

    @property
    def deadline(self) -> datetime | None:
        """In a request/reply handler, when its caller stops waiting; None if it never does."""
        envelope = self._invocation.envelope
        if envelope is None or not envelope.deadline_millis:
            return None
        return datetime_of_millis(envelope.deadline_millis)

    def _defer(self) -> Deferred:
        """Answer the call later (generated rpc contexts expose it as ``defer()``)."""
        return replies.defer(self._invocation)

    if not TYPE_CHECKING:  # mypy must keep rejecting a part the context does not have

        def __getattr__(self, name: str) -> Any:
            # Only reached for attributes the (generated) class does not define.
            declaration = _PART_DECLARATIONS.get(name)
            if declaration is None:
                raise AttributeError(
                    f"{type(self).__name__!r} object has no attribute {name!r}", name=name, obj=self
                )
            self._invocation.refuse(f"declared no {declaration}: it has no ctx.{name}")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_MILLIS = (datetime.min.replace(tzinfo=UTC) - _EPOCH) // timedelta(milliseconds=1)
_MAX_MILLIS = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // timedelta(milliseconds=1)


def datetime_of_millis(millis: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime, exactly; clamped to what datetime holds
    (a caller's deadline comes off the wire and may be any int64)."""
    return _EPOCH + timedelta(milliseconds=min(max(millis, _MIN_MILLIS), _MAX_MILLIS))


class FunctionClient(Part):
    """The calls and sends one function declared towards one instance of another."""

    __slots__ = ("_typename", "_id")

    def __init__(self, invocation: Invocation, typename: str, id: str) -> None:
        self._invocation = invocation  # Part's, without the call: one is made per call or send
        if not id:
            raise ValueError(f"the id of a {typename} instance cannot be empty")
        self._typename = typename
        self._id = id

    def _send(self, handler: str, message: Message) -> None:
        invocation = self._invocation
        invocation.require("sends", (self._typename, handler))
        invocation.send(self._typename, self._id, message)

    def _call(
        self,
        rpc: Rpc[Any, Any],
        continuation: str,
        request: Message,
        carried: Message | None,
        timeout: timedelta | None,
    ) -> calls.CallId:
        return calls.call(self._invocation, continuation, rpc, self._id, request, carried, timeout)


class Functions(Part):
    """Base of ``ctx.functions``: one method per declared target function, taking the id."""

    __slots__ = ()


class Joins(Part):
    """Base of ``ctx.joins``: one method per declared join, starting all of its calls."""

    __slots__ = ()

    def _join(
        self,
        continuation: str,
        requests: tuple[tuple[Rpc[Any, Any], str, Message], ...],
        carried: Message | None,
        timeout: timedelta | None,
    ) -> calls.CallId:
        return calls.start(self._invocation, continuation, requests, carried, timeout)


class Egress(Generic[M]):
    """A declared egress; ``write`` sends one record."""

    __slots__ = ("_invocation", "_typename")

    def __init__(self, invocation: Invocation, typename: str) -> None:
        self._invocation = invocation
        self._typename = typename

    def write(self, message: M, *, key: str | None = None) -> None:
        """Write ``message``; the record key (Kafka) or partition key (Kinesis) defaults to this function's id."""
        self._invocation.require("emits", self._typename)
        self._invocation.emit(self._typename, message, key)


class Egresses(Part):
    """Base of ``ctx.egress``: one property per egress the function declared it writes."""

    __slots__ = ()

    def _egress(self, typename: str, message: type[M]) -> Egress[M]:
        return Egress[M](self._invocation, typename)


class Timer(Generic[M]):
    """A declared timer: a delayed message to this same instance, handled by the timer's method."""

    __slots__ = ("_invocation", "_name")

    def __init__(self, invocation: Invocation, name: str) -> None:
        self._invocation = invocation
        self._name = name

    def after(self, delay: timedelta, message: M) -> TimerId:
        """Fire the timer with ``message`` once ``delay`` has passed; keep the id to cancel it."""
        invocation = self._invocation
        invocation.require("timers", self._name)
        token = f"{_TIMER_TOKEN}{invocation.next_id()}"
        # Only decoded again: SerializeToString, not types.encode (which says why).
        fired = TimerFired(timer=self._name, payload=message.SerializeToString(), token=token)
        invocation.send_self_after(delay, fired, token)
        return TimerId(token)

    def cancel(self, timer: TimerId) -> None:
        """Cancel a pending timer; a no-op when it already fired (cancellation is best-effort).

        Raises ValueError for anything but an id from :meth:`after`: StateFun fails the
        job on an empty token, and any other token could cancel a call's timeout.
        """
        self._invocation.require("timers", self._name)
        number = timer.removeprefix(_TIMER_TOKEN)
        if number == timer or not (number.isascii() and number.isdigit()):
            raise ValueError(f"not the id of a timer: {timer!r}")
        self._invocation.cancel(timer)


class Timers(Part):
    """Base of ``ctx.timers``: one property per declared timer."""

    __slots__ = ()

    def _timer(self, name: str, message: type[M]) -> Timer[M]:
        return Timer[M](self._invocation, name)


class Replies(Part):
    """Base of ``ctx.replies``: one property per rpc of this function the member may complete."""

    __slots__ = ()

    def _replies(self, rpc: Rpc[Req, Rep]) -> PendingReplies[Rep, Any]:
        return PendingReplies(self._invocation, rpc)
