"""The names the stubs (``<name>_sfidl.py``) declare for a program, and the rule keeping them apart.

The stubs import everything they need under private names (``_sf``, ``_builtins``,
``_abc``, ``_timedelta``, ``_TypeAlias``, each ``_pb2`` module as ``_<stem>_pb2``) and
declared names never start with `_`, so a declaration cannot clash with sfidl's own
machinery. What is left is what Python itself forbids: two declarations mapping to one
generated module-level name (an error ``OutOfStock`` and a message-less function
``OutOfStockError``; a function ``Cart`` with a handler ``add`` and a function
``CartAdd``...), or to one keyword argument of the application class. One derivation,
here, serves the generator (sfidl/gen/stubs.py) and this rule.
"""

from __future__ import annotations

import keyword
from collections.abc import Iterator
from dataclasses import dataclass

from sfidl.check import rules
from sfidl.check.report import Reporter, where
from sfidl.diagnostics import Span
from sfidl.model import (
    Effects,
    Egress,
    Function,
    Handler,
    HandlerKind,
    MessageOrigin,
    MessageType,
    Program,
    RpcRef,
    TypeKind,
    TypeRef,
)
from sfidl.naming import pascal_case, snake_case

# Public names every stubs module defines (docs/python.md): the runtime's id and outcome
# types users import from the stubs (re-exported), and the program's namespace and manifest.
RUNTIME_EXPORTS = ("CallId", "Timeout", "TimerId")
FIXED_NAMES = (*RUNTIME_EXPORTS, "NAMESPACE", "MANIFEST")

# The application class's own keyword argument, beside one per function.
PLAYGROUND = "playground"


def error_class_name(ref: TypeRef) -> str:
    """``OutOfStock`` -> ``OutOfStockError`` (a name already ending in ``Error`` is kept)."""
    name = ref.local_name.replace(".", "")
    return name if name.endswith("Error") else name + "Error"


def rpc_constant_name(rpc: RpcRef) -> str:
    """``RPC_INVENTORY_RESERVE``: the ``sf.Rpc`` a call of ``Inventory.reserve`` names."""
    return f"RPC_{snake_case(rpc.function).upper()}_{rpc.handler.upper()}"


def outcome_alias(rpc: RpcRef) -> str:
    """``InventoryReserveOutcome``: what a continuation of a call to ``Inventory.reserve`` gets."""
    return f"{rpc.function}{pascal_case(rpc.handler)}Outcome"


def egress_constant_name(egress: Egress) -> str:
    return f"EGRESS_{egress.name.upper()}"


def app_class_name(program: Program) -> str:
    """``ShopApp`` for ``shop.sfidl``."""
    return pascal_case(program.root.stem) + "App"


def context_class_name(function: Function) -> str:
    """``CartContext``: the context of the members of ``Cart`` that declared nothing."""
    return f"{function.name}Context"


def state_class_name(function: Function) -> str:
    """``CartState``: the typed view of ``Cart``'s states."""
    return f"{function.name}State"


def function_attribute(function_name: str) -> str:
    """How Python code names a function in lower case: ``UserCart`` -> ``user_cart``.

    The application's keyword argument taking its implementation and a context's client
    accessor (``ctx.functions.user_cart``). A name that is a Python keyword once lowered
    gets PEP 8's trailing underscore (``For`` -> ``for_``): ``For`` itself is allowed.
    """
    name = snake_case(function_name)
    return f"{name}_" if keyword.iskeyword(name) else name


def app_keyword(function: Function) -> str:
    """The application's keyword argument taking ``function``'s implementation: ``user_cart``."""
    return function_attribute(function.name)


def rpc_ref_of(function: Function, handler: Handler) -> RpcRef:
    """The rpc handler ``handler`` of ``function``, as a call would name it."""
    assert handler.reply is not None
    assert handler.call_envelope is not None and handler.reply_envelope is not None
    return RpcRef(
        function=function.name,
        function_typename=function.typename,
        handler=handler.name,
        request=handler.request,
        reply=handler.reply,
        errors=handler.errors,
        call_envelope=handler.call_envelope,
        reply_envelope=handler.reply_envelope,
    )


def all_rpcs(program: Program) -> list[tuple[RpcRef, Span]]:
    """The request/reply handlers the program implements or calls, each once, with where."""
    found: dict[tuple[str, str], tuple[RpcRef, Span]] = {}
    for function in program.functions:
        for handler in function.handlers:
            if handler.kind is HandlerKind.RPC:
                ref = rpc_ref_of(function, handler)
                found.setdefault((ref.function_typename, ref.handler), (ref, handler.span))
        for call in function.calls:
            for rpc in call.targets:
                found.setdefault((rpc.function_typename, rpc.handler), (rpc, call.span))
    return list(found.values())


def error_types(program: Program) -> Iterator[tuple[TypeRef, MessageType]]:
    """Every `error` of every file of the program: each gets an exception class."""
    for source in program.files:
        for message in source.messages:
            if message.origin is MessageOrigin.ERROR:
                ref = TypeRef(
                    TypeKind.MESSAGE, message.full_name, source.package, source.proto_file
                )
                yield ref, message


# The parts of a member's context, each a class of its own: (property, class suffix, what).
PARTS = (
    ("functions", "Functions", "clients"),
    ("egress", "Egress", "egresses"),
    ("timers", "Timers", "timers"),
    ("joins", "Joins", "joins"),
    ("replies", "Replies", "deferred replies"),
)


@dataclass(frozen=True, eq=False)
class MemberContext:
    """A handler, timer or continuation with a context class of its own: what it declared."""

    function: Function
    member: str
    effects: Effects
    defers: bool  # an rpc handler that may answer later
    span: Span  # where the member is declared (a continuation: its first call)

    @property
    def stem(self) -> str:
        """``UserCartAdd``: what its classes' names start with."""
        return f"{self.function.name}{pascal_case(self.member)}"

    @property
    def name(self) -> str:
        return f"{self.stem}Context"

    def parts(self) -> list[tuple[str, str, str]]:
        """The parts it declared something of: (property, class name, what)."""
        effects = self.effects
        present = {
            "functions": any(not c.is_join for c in effects.calls) or bool(effects.sends),
            "egress": bool(effects.emits),
            "timers": bool(effects.sets),
            "joins": any(c.is_join for c in effects.calls),
            "replies": bool(effects.completes),
        }
        return [(part, self.stem + suffix, what) for part, suffix, what in PARTS if present[part]]

    def client_targets(self) -> dict[str, str]:
        """The functions it calls (not in a join) or sends to: typename -> function name."""
        targets: dict[str, str] = {}
        for call in self.effects.calls:
            if not call.is_join:
                targets.setdefault(call.targets[0].function_typename, call.targets[0].function)
        for send in self.effects.sends:
            targets.setdefault(send.function_typename, send.function)
        return targets

    def client_class(self, target: str) -> str:
        """``UserCartAddToInventory``: the client of ``target`` it gets."""
        return f"{self.stem}To{target}"


def member_contexts(function: Function) -> tuple[list[MemberContext], dict[str, str]]:
    """The members and continuations of ``function`` with a context class of their own, and
    for every member and continuation the name of the context class its method takes.

    A member that declared nothing takes the function's context; a continuation goes on
    with its one calling member's context (unless that member may defer its answer,
    which only the rpc itself may do), else it gets its own.
    """
    base = context_class_name(function)
    own: dict[str, MemberContext] = {}
    context_of: dict[str, str] = {}
    for member in function.members:
        defers = isinstance(member, Handler) and function.defers(member.name)
        if member.effects != Effects() or defers:
            own[member.name] = MemberContext(
                function, member.name, member.effects, defers, member.span
            )
        context_of[member.name] = own[member.name].name if member.name in own else base
    for call in function.calls:
        declarers = [
            own[m.name]
            for m in function.members
            if any(c.continuation == call.continuation for c in m.calls)
        ]
        if len(declarers) == 1 and not declarers[0].defers:
            context_of[call.continuation] = declarers[0].name
            continue
        effects = function.continuation_effects(call.continuation)
        own[call.continuation] = MemberContext(
            function, call.continuation, effects, False, call.span
        )
        context_of[call.continuation] = own[call.continuation].name
    return list(own.values()), context_of


@dataclass(frozen=True)
class Declared:
    """One module-level name of the stubs and what it is for."""

    name: str
    key: tuple[str, ...]  # one key, one declaration: what it is made for
    what: str  # for messages: ``the context of Cart.add``
    span: Span | None  # None for sfidl's own names


def declarations(program: Program) -> list[Declared]:
    """Every module-level name the stubs declare, in the order they declare them."""
    out = [Declared(n, ("fixed", n), f"sfidl's own `{n}`", None) for n in FIXED_NAMES]
    what = f"the application class of {program.root.file_name}"
    out.append(Declared(app_class_name(program), ("app",), what, None))
    for ref, message in error_types(program):
        name = error_class_name(ref)
        out.append(Declared(name, ("error", ref.name), f"the error {ref.name}", message.span))
    for rpc, span in all_rpcs(program):
        what = f"{rpc.function}.{rpc.handler}"
        key = (rpc.function_typename, rpc.handler)
        out.append(Declared(rpc_constant_name(rpc), ("rpc", *key), f"the rpc {what}", span))
        out.append(Declared(outcome_alias(rpc), ("outcome", *key), f"the outcome of {what}", span))
    for egress in program.egresses:
        name = egress_constant_name(egress)
        out.append(
            Declared(name, ("egress", egress.name), f"the egress {egress.name}", egress.span)
        )
    for function in program.functions:
        out.extend(_function_declarations(function))
    return out


def _function_declarations(function: Function) -> Iterator[Declared]:
    name, span = function.name, function.span
    yield Declared(name, ("function", name), f"the function {name}", span)
    yield Declared(context_class_name(function), ("context", name), f"the context of {name}", span)
    yield Declared(state_class_name(function), ("state", name), f"the state of {name}", span)
    for context in member_contexts(function)[0]:
        member, at = f"{name}.{context.member}", context.span
        for typename, target in context.client_targets().items():
            what = f"the client of {target} in {member}"
            key: tuple[str, ...] = ("client", name, context.member, typename)
            yield Declared(context.client_class(target), key, what, at)
        for part, cls, what in context.parts():
            yield Declared(cls, (part, name, context.member), f"the {what} of {member}", at)
        key = ("context", name, context.member)
        yield Declared(context.name, key, f"the context of {member}", at)


def check_python_names(report: Reporter, program: Program) -> None:
    """Report every declaration whose generated Python name another one already took (once
    per two declarations, however many of their names coincide), and every function whose
    application keyword argument is taken."""
    taken: dict[str, Declared] = {}
    reported: set[tuple[Span, Span | None]] = set()
    for declared in declarations(program):
        first = taken.setdefault(declared.name, declared)
        if first.key == declared.key:
            continue
        assert declared.span is not None, "sfidl's own names are declared first"
        if (declared.span, first.span) in reported:
            continue
        reported.add((declared.span, first.span))
        at = "" if first.span is None else f" ({where(first.span)})"
        report.error(
            declared.span,
            f"the generated Python name `{declared.name}` is needed for both {first.what}{at} "
            f"and {declared.what}",
            hint="rename one of them",
            code=rules.NAME_CLASH,
        )
    for function in program.functions:
        if app_keyword(function) == PLAYGROUND:
            report.error(
                function.span,
                f"the function {function.name} would be the application's `{PLAYGROUND}` "
                "argument, which selects the playground's egress records",
                hint="rename the function",
                code=rules.NAME_CLASH,
            )
