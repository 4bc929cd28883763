"""The declarations generated code makes: functions, handlers, calls, timers.

Generated ``<name>_sfidl.py`` files are built from these; the behaviour behind them lives
in :mod:`sfidl.runtime.dispatch` and friends, once. This module is at the bottom of the
runtime library: it names the generated context and state classes without importing
their bases (:mod:`~sfidl.runtime.context` and :mod:`~sfidl.runtime.state` are built on
the invocation, which reads these declarations).
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Generic, TypeAlias, TypeVar

from google.protobuf.message import Message

from sfidl.runtime.errors import RpcError
from sfidl.wire import message_typename

Req = TypeVar("Req", bound=Message)
Rep = TypeVar("Rep", bound=Message)
T = TypeVar("T")

MaybeAwaitable: TypeAlias = T | Awaitable[T]
"""What a handler returns: implement it as a plain method or as an ``async`` one."""

ContextClass: TypeAlias = type[Any]
"""A generated subclass of :class:`sfidl.runtime.context.Context`: called with the
invocation, it makes the ``ctx`` a method is given."""

StateClass: TypeAlias = type[Any]
"""A generated subclass of :class:`sfidl.runtime.state.State`: one descriptor per state."""


@dataclass(frozen=True)
class Rpc(Generic[Req, Rep]):
    """A request/reply handler, as both its callers and its function see it."""

    function: str  # the callee's typename
    handler: str
    request: type[Req]
    reply: type[Rep]
    call_envelope: type[Message]  # fields: correlation_id = 1, request = 2
    reply_envelope: type[
        Message
    ]  # fields: correlation_id = 1, oneof outcome {reply = 2, errors...}
    errors: tuple[type[RpcError[Any]], ...] = ()
    # The envelopes' typenames on the wire, derived once: asked for every call and reply.
    call_typename: str = field(init=False, repr=False, compare=False)
    reply_typename: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        call_typename = message_typename(self.call_envelope.DESCRIPTOR.full_name)
        reply_typename = message_typename(self.reply_envelope.DESCRIPTOR.full_name)
        object.__setattr__(self, "call_typename", call_typename)  # a frozen dataclass's way
        object.__setattr__(self, "reply_typename", reply_typename)

    def error_for(self, detail: Message) -> type[RpcError[Any]] | None:
        """The declared error class carrying messages like ``detail``."""
        name = detail.DESCRIPTOR.full_name
        return next((e for e in self.errors if e.detail_type.DESCRIPTOR.full_name == name), None)


@dataclass(frozen=True)
class Effects:
    """What one member (handler, timer or continuation) declared it may do.

    The runtime refuses anything else with :class:`~sfidl.runtime.errors.UndeclaredEffect`,
    so untyped code cannot do what the IDL does not show.
    """

    calls: frozenset[str] = frozenset()  # continuations it may start calls or joins towards
    sends: frozenset[tuple[str, str]] = frozenset()  # (function typename, handler) it sends to
    emits: frozenset[str] = frozenset()  # egress typenames it writes
    timers: frozenset[str] = frozenset()  # timers of its function it may set or cancel
    completes: frozenset[str] = frozenset()  # rpc handlers of its function it may complete


NO_EFFECTS = Effects()


@dataclass(frozen=True)
class OneWay:
    """``on name(Request);``: a handler that receives messages and answers nothing."""

    name: str
    request: type[Message]
    effects: Effects = field(default=NO_EFFECTS)
    # The context class it gets: the function's when None.
    context: ContextClass | None = None


@dataclass(frozen=True)
class RequestReply:
    """``rpc name(Request) returns Reply raises ...;``: a handler that answers its caller.

    ``defers``: some member of the function declares ``completes name``, so the handler
    may answer later (``ctx.defer()``).
    """

    name: str
    rpc: Rpc[Any, Any]
    effects: Effects = field(default=NO_EFFECTS)
    defers: bool = False
    # The context class it gets: the function's when None.
    context: ContextClass | None = None


@dataclass(frozen=True)
class Timer:
    """``timer name(Message);``: a delayed self-message handled by the method ``name``."""

    name: str
    message: type[Message]
    effects: Effects = field(default=NO_EFFECTS)
    # The context class it gets: the function's when None.
    context: ContextClass | None = None


@dataclass(frozen=True)
class Continuation:
    """The method receiving the outcome of a declared call (or of several, for a join)."""

    name: str
    targets: tuple[Rpc[Any, Any], ...]
    carries: type[Message] | None = None
    timeout: timedelta | None = None  # the IDL's default
    # What the members whose calls continue here declared (their union).
    effects: Effects = field(default=NO_EFFECTS)
    # The context class it gets: the function's when None.
    context: ContextClass | None = None

    @property
    def is_join(self) -> bool:
        return len(self.targets) > 1


@dataclass(frozen=True)
class FunctionSpec:
    """Everything the runtime needs to host one function type."""

    typename: str
    context: ContextClass
    state: StateClass
    handlers: tuple[OneWay | RequestReply, ...]
    timers: tuple[Timer, ...] = ()
    continuations: tuple[Continuation, ...] = ()
    # Hold other messages while a call or a deferred reply is pending (see dispatch).
    exclusive: bool = False


Member = OneWay | RequestReply | Timer | Continuation
"""Whatever runs user code: its ``name`` is the method, its ``effects`` what it may do."""
