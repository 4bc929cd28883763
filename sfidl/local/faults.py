"""Faults the engine injects into messages between functions: late, dropped, or lost ones.

A :class:`Fault` matches the messages functions send to the instances of one function type
(optionally only to one id, or only messages of one typename) and either delivers them
late, after a delay on the engine's clock, or drops them: all of them (a silent callee) or
the next ``count``. The engine applies faults where it routes a function's outgoing
messages, before committing the batch; messages from ingresses and delayed messages
(timers, call timeouts) are never touched. Every message a fault touched is reported as an
:class:`Interference`.

When several faults match a message, the one added last decides. Faults are deterministic:
no randomness, and a delayed message is an ordinary delayed message of the engine, fired in
time order with the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from types import TracebackType

from statefun.request_reply_pb2 import TypedValue

from sfidl.local.effects import DelayedSend, Effects, Outgoing
from sfidl.local.records import Address


class Action(Enum):
    """What a fault does to the messages it matches."""

    DELAY = "delayed"
    DROP = "dropped"


class Fault:
    """One injected fault; :meth:`remove` it, or use it as a context manager to scope it.

    Made by :meth:`Faults.delay` and :meth:`Faults.drop` (and the test harness's
    ``slow``, ``silence`` and ``lose``).
    """

    def __init__(
        self,
        owner: Faults,
        action: Action,
        function: str,
        *,
        id: str | None,
        typename: str | None,
        delay_ms: int = 0,
        count: int | None = None,
    ) -> None:
        self.action = action
        self.function = function
        """The function type (``namespace/type``) whose incoming messages it touches."""
        self.id = id
        """Only messages to this instance; None: every instance."""
        self.typename = typename
        """Only messages of this typename; None: every message."""
        self.delay_ms = delay_ms
        """How late a delayed message arrives, in milliseconds (0 for a drop)."""
        self.remaining = count
        """How many more messages it drops; None: it drops or delays every match."""
        self._owner = owner

    @property
    def active(self) -> bool:
        """Whether it still touches messages (not removed, not used up)."""
        return self in self._owner._faults

    def matches(self, target: Address, typename: str) -> bool:
        """Whether it touches a message of ``typename`` to ``target``."""
        return (
            target.typename == self.function
            and (self.id is None or self.id == target.id)
            and (self.typename is None or self.typename == typename)
        )

    def remove(self) -> None:
        """Stop it; messages it already delayed still arrive late. Removing twice is a no-op."""
        if self in self._owner._faults:
            self._owner._faults.remove(self)

    def __enter__(self) -> Fault:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()

    def __repr__(self) -> str:
        scope = self.function + (f"/{self.id}" if self.id is not None else "")
        of = f" of {self.typename}" if self.typename is not None else ""
        if self.action is Action.DELAY:
            return f"<Fault: messages{of} to {scope} {self.delay_ms} ms late>"
        how_many = "every" if self.remaining is None else f"the next {self.remaining}"
        return f"<Fault: drop {how_many} message(s){of} to {scope}>"


@dataclass(frozen=True)
class Interference:
    """A message a fault dropped or delayed."""

    action: Action
    fault: Fault
    sender: Address
    target: Address
    argument: bytes  # a serialized TypedValue
    at_ms: int  # when it was sent
    delay_ms: int  # how late it is delivered; 0 when dropped


class Faults:
    """The faults an engine applies; empty, it changes nothing."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def __bool__(self) -> bool:
        return bool(self._faults)

    def delay(
        self, function: str, delay_ms: int, *, id: str | None = None, typename: str | None = None
    ) -> Fault:
        """Deliver matching messages ``delay_ms`` milliseconds (at least 1) after they were sent."""
        if delay_ms < 1:
            raise ValueError(f"a delay must be at least 1 ms, got {delay_ms} ms")
        return self._add(
            Fault(self, Action.DELAY, function, id=id, typename=typename, delay_ms=delay_ms)
        )

    def drop(
        self,
        function: str,
        count: int | None = None,
        *,
        id: str | None = None,
        typename: str | None = None,
    ) -> Fault:
        """Drop the next ``count`` matching messages (at least 1), or every one with None."""
        if count is not None and count < 1:
            raise ValueError(f"a fault drops at least 1 message, got count={count}")
        return self._add(Fault(self, Action.DROP, function, id=id, typename=typename, count=count))

    def _add(self, fault: Fault) -> Fault:
        self._faults.append(fault)
        return fault

    def apply(self, target: Address, typename: str) -> Fault | None:
        """The fault deciding the fate of a message of ``typename`` to ``target``, if any.

        A drop with a count counts this message as one of those it drops; used up, it is removed.
        """
        for fault in reversed(self._faults):
            if fault.matches(target, typename):
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        fault.remove()
                return fault
        return None

    def route(
        self, sender: Address, effects: Effects, now_ms: int
    ) -> tuple[Effects, list[Interference]]:
        """``effects`` with the faults applied to its outgoing messages, and what they touched.

        A delayed message becomes a delayed message from ``sender`` without a cancellation
        token, so it reaches its target with the same caller, only later.
        """
        if not self._faults or not effects.messages:
            return effects, []
        kept: list[Outgoing] = []
        late: list[DelayedSend] = []
        touched: list[Interference] = []
        for message in effects.messages:
            fault = self.apply(message.target, _typename(message.argument))
            if fault is None:
                kept.append(message)
                continue
            if fault.action is Action.DELAY:
                late.append(
                    DelayedSend(now_ms + fault.delay_ms, "", message.target, message.argument)
                )
            touched.append(
                Interference(
                    fault.action,
                    fault,
                    sender,
                    message.target,
                    message.argument,
                    now_ms,
                    fault.delay_ms,
                )
            )
        routed = effects._replace(messages=tuple(kept), delayed=effects.delayed + tuple(late))
        return routed, touched


def _typename(argument: bytes) -> str:
    value = TypedValue()
    value.ParseFromString(argument)
    typename: str = value.typename
    return typename
