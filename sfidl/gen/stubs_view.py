"""The view the stubs template lays out: every name and annotation already decided.

Strings here are final Python source fragments (type expressions, literals); the
template only places them.
"""

from __future__ import annotations

from dataclasses import dataclass

# Views are only read by the template: no equality or hashing (each costs import time).


@dataclass(frozen=True, eq=False)
class ErrorClass:
    """An exception class the stubs define for a declared error message."""

    name: str
    message: str  # the detail message class
    doc: str


@dataclass(frozen=True, eq=False)
class RpcConstant:
    """A module-level ``Rpc`` constant: one rpc of one function."""

    name: str
    function: str
    handler: str
    request: str
    reply: str
    call_envelope: str
    reply_envelope: str
    errors: tuple[str, ...]
    outcome_alias: str  # ``InventoryReserveOutcome``
    outcome: str  # ``shop_pb2.Reserved | OutOfStockError | sf.Timeout``


@dataclass(frozen=True, eq=False)
class EgressConstant:
    """A module-level constant for one egress: its typename, kind, sink and message."""

    name: str
    typename: str
    kind: str
    sink: str
    message: str
    dead_letters: bool


@dataclass(frozen=True, eq=False)
class StateAttr:
    """One state of a function's storage, as an attribute of its state class."""

    name: str
    annotation: str
    descriptor: str
    doc: str


@dataclass(frozen=True, eq=False)
class Method:
    """A method of a generated class: signature pieces and the one-line body (if any)."""

    name: str
    params: str  # after ``self``
    returns: str
    doc: str
    body: str = ""  # the one statement of the body; none for an abstract method


@dataclass(frozen=True, eq=False)
class ClientClass:
    """The generated classes of one function: its client methods, its context classes and
    the handlers an implementation defines."""

    name: str
    target: str  # the target function's name
    accessor: str  # ``inventory``: the method of ``ctx.functions``
    typename: str
    methods: tuple[Method, ...]


@dataclass(frozen=True, eq=False)
class Part:
    """A property of the context: ``ctx.<name>`` of the generated class ``cls``."""

    name: str
    cls: str


@dataclass(frozen=True, eq=False)
class MemberContext:
    """The context class of one handler, timer or continuation: exactly what it declared.

    Each part (``functions``, ``egress``, ``timers``, ``joins``, ``replies``) is a class of
    its own, present only when the member declared something of that kind.
    """

    name: str
    member: str  # ``UserCart.add``, for docstrings
    base: str  # the function's context class: id, address, state, time
    parts: tuple[Part, ...]
    clients: tuple[ClientClass, ...]
    functions_class: str
    egress_class: str
    egress: tuple[Method, ...]
    timers_class: str
    timers: tuple[Method, ...]
    joins_class: str
    joins: tuple[Method, ...]
    replies_class: str
    replies: tuple[Method, ...]
    defers: bool  # an rpc handler that may answer later: ``ctx.defer()``


@dataclass(frozen=True, eq=False)
class FunctionView:
    """Everything the stubs write for one function."""

    name: str
    typename: str
    doc: str
    state_class: str
    states: tuple[StateAttr, ...]
    context_class: str
    member_contexts: tuple[MemberContext, ...]
    abstract_methods: tuple[Method, ...]
    spec_handlers: tuple[str, ...]
    spec_timers: tuple[str, ...]
    spec_continuations: tuple[str, ...]
    exclusive: bool


@dataclass(frozen=True, eq=False)
class IngressEntry:
    """One ingress: its typename, kind, source, the function it feeds and the message."""

    typename: str
    kind: str
    source: str
    target: str
    message: str


@dataclass(frozen=True, eq=False)
class StubsView:
    """The whole stubs module, as the template lays it out."""

    source: str
    namespace: str
    doc: str
    exports: tuple[str, ...]  # the runtime's names the stubs re-export (``__all__``)
    imports: tuple[str, ...]
    # ``(alias, name)``: a private alias of a module-level name some class member would hide
    # from the annotations after it (class scope comes before module scope).
    aliases: tuple[tuple[str, str], ...]
    errors: tuple[ErrorClass, ...]
    rpcs: tuple[RpcConstant, ...]
    egresses: tuple[EgressConstant, ...]
    functions: tuple[FunctionView, ...]
    ingresses: tuple[IngressEntry, ...]
    app_class: str
    app_self: str  # ``self``, or ``_self`` when a function's keyword is ``self``
    app_params: tuple[tuple[str, str], ...]  # (keyword, function class)
    endpoint: str  # a Python expression
