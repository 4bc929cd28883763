"""Functions: their names and typenames, then the signatures of handlers and timers.

Signatures are checked for every file before any effect, so that a call can be checked
against a handler of any function of the program (see :mod:`sfidl.check.effects`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sfidl import ast, model
from sfidl.check import rules
from sfidl.check.envelopes import build_envelopes, envelope_names
from sfidl.check.names import check_identifier, check_member_name, with_article
from sfidl.naming import snake_case
from sfidl.check.report import Reporter, where
from sfidl.check.scope import FunctionSymbol, Resolver, SymbolTable
from sfidl.check.types import full_name
from sfidl.diagnostics import Span
from sfidl.model import HandlerKind, MessageOrigin, TypeKind, TypeRef


@dataclass
class HandlerSignature:
    """A handler's kind and types; a type is None where it did not resolve."""

    node: ast.Handler
    kind: HandlerKind
    request: TypeRef | None
    reply: TypeRef | None = None
    raised: tuple[tuple[TypeRef, ast.TypeName], ...] = ()  # each error and where it was named
    call_envelope: TypeRef | None = None
    reply_envelope: TypeRef | None = None

    @property
    def errors(self) -> tuple[TypeRef, ...]:
        return tuple(ref for ref, _ in self.raised)


@dataclass
class FunctionSignature:
    symbol: FunctionSymbol
    handlers: dict[str, HandlerSignature] = field(default_factory=dict)
    timers: dict[str, ast.Timer] = field(default_factory=dict)
    # Handler, timer and continuation names: all methods of one generated class.
    members: dict[str, tuple[str, Span]] = field(default_factory=dict)


def declare_functions(table: SymbolTable, report: Reporter, file: ast.File) -> None:
    """Register the file's functions; duplicate names and typenames are errors."""
    for function in file.functions:
        name = function.name
        check_identifier(report, name, "function")
        full = full_name(file.package, name.text)
        typename = f"{file.package}/{snake_case(name.text)}"
        previous = table.functions.get(full)
        if previous is not None:
            report.error(
                name.span,
                f"duplicate function `{name.text}`: already declared at {where(previous.node.name.span)}",
                code=rules.DUPLICATE_FUNCTION,
            )
            continue
        same = next((f for f in table.functions.values() if f.typename == typename), None)
        if same is not None:
            report.error(
                name.span,
                f"function `{name.text}` has the StateFun typename `{typename}` of `{same.name}` "
                f"({where(same.node.name.span)})",
                hint="rename one of them",
                code=rules.TYPENAME_CLASH,
            )
            continue
        table.functions[full] = FunctionSymbol(
            name.text, full, typename, file.path, file.package, function
        )


def build_signatures(
    resolver: Resolver, report: Reporter, table: SymbolTable, file: ast.File
) -> tuple[list[FunctionSignature], list[model.MessageType]]:
    """The signatures of the file's functions and the envelope messages of its rpc handlers."""
    signatures: list[FunctionSignature] = []
    envelopes: list[model.MessageType] = []
    for function in file.functions:
        symbol = table.functions.get(full_name(file.package, function.name.text))
        if symbol is None or symbol.node is not function:
            continue
        signature = FunctionSignature(symbol)
        if not function.handlers:
            report.error(
                function.name.span,
                f"function `{function.name.text}` has no handlers",
                hint="declare at least one `on` or `rpc` handler",
                code=rules.NO_HANDLERS,
            )
        one_way_requests: dict[str, ast.Handler] = {}
        for handler in function.handlers:
            check_member_name(report, handler.name, "handler")
            _claim_member(report, signature, handler.name, "handler")
            handler_signature = _handler(resolver, report, handler)
            signature.handlers.setdefault(handler.name.text, handler_signature)
            request = handler_signature.request
            if handler_signature.kind is HandlerKind.ONEWAY and request is not None:
                previous = one_way_requests.setdefault(request.name, handler)
                if previous is not handler:
                    report.error(
                        handler.request.span,
                        f"`{previous.name.text}` already receives `{handler.request.text}`",
                        hint="a one-way message is dispatched by its type: give each one-way "
                        "handler of a function its own request type",
                        code=rules.DUPLICATE_ONE_WAY_REQUEST,
                    )
            if handler_signature.kind is HandlerKind.RPC:
                envelopes.extend(_envelopes(report, table, file, function, handler_signature))
        for timer in function.timers:
            check_member_name(report, timer.name, "timer")
            _claim_member(report, signature, timer.name, "timer")
            signature.timers.setdefault(timer.name.text, timer)
        signatures.append(signature)
    return signatures, envelopes


def _claim_member(
    report: Reporter, signature: FunctionSignature, name: ast.Name, what: str
) -> bool:
    previous = signature.members.get(name.text)
    if previous is not None:
        kind, span = previous
        report.error(
            name.span,
            f"duplicate name `{name.text}` in `{signature.symbol.name}`: already the {kind} at {where(span)}",
            hint="handlers, timers and continuations are methods of one class and need distinct names",
            code=rules.DUPLICATE_MEMBER,
        )
        return False
    signature.members[name.text] = (what, name.span)
    return True


def claim_continuation(report: Reporter, signature: FunctionSignature, name: ast.Name) -> bool:
    """Take a continuation name; using it again for further calls is fine."""
    previous = signature.members.get(name.text)
    if previous is not None and previous[0] == "continuation":
        return True
    return _claim_member(report, signature, name, "continuation")


def _handler(resolver: Resolver, report: Reporter, handler: ast.Handler) -> HandlerSignature:
    request = message_type(resolver, report, handler.request, "request")
    if handler.kind == "on":
        return HandlerSignature(handler, HandlerKind.ONEWAY, request)
    assert handler.reply is not None
    reply = message_type(resolver, report, handler.reply, "reply")
    errors: list[tuple[TypeRef, ast.TypeName]] = []
    for written in handler.raises:
        symbol = resolver.type(written)
        if symbol is None:
            continue
        if symbol.origin is not MessageOrigin.ERROR:
            report.error(
                written.span,
                f"`raises` names {symbol.describe()}, which is not an `error` type",
                hint=(
                    f"declare it with `error {written.parts[-1]} {{ ... }}`"
                    if symbol.is_message
                    else None
                ),
                code=rules.RAISES_NOT_ERROR,
            )
        elif any(symbol.ref == ref for ref, _ in errors):
            report.error(
                written.span, f"`{written.text}` is raised twice", code=rules.DUPLICATE_RAISES
            )
        else:
            errors.append((symbol.ref, written))
    return HandlerSignature(handler, HandlerKind.RPC, request, reply, tuple(errors))


def message_type(
    resolver: Resolver,
    report: Reporter,
    name: ast.TypeName,
    role: str,
    errors_allowed: bool = False,
) -> TypeRef | None:
    """The message type ``name`` means, or None after reporting why it is not one."""
    symbol = resolver.type(name)
    if symbol is None:
        return None
    if symbol.origin is MessageOrigin.MESSAGE or (
        errors_allowed and symbol.origin is MessageOrigin.ERROR
    ):
        return symbol.ref
    if symbol.origin is MessageOrigin.ERROR:
        report.error(
            name.span,
            f"{with_article(role)} must be a message, not {symbol.describe()}",
            hint="errors are only raised; declare a `message` for this",
            code=rules.NOT_A_MESSAGE,
        )
    elif symbol.origin is MessageOrigin.ENVELOPE:
        report.error(
            name.span,
            f"{with_article(role)} cannot be {symbol.describe()}",
            code=rules.NOT_A_MESSAGE,
        )
    else:
        hint = "wrap it in a message" if symbol.ref.kind is not TypeKind.MESSAGE else None
        report.error(
            name.span,
            f"{with_article(role)} must be a message, not {symbol.describe()}",
            hint=hint,
            code=rules.NOT_A_MESSAGE,
        )
    return None


def _envelopes(
    report: Reporter,
    table: SymbolTable,
    file: ast.File,
    function: ast.Function,
    signature: HandlerSignature,
) -> list[model.MessageType]:
    handler = signature.node
    refs = []
    for name in envelope_names(function.name.text, handler.name.text):
        symbol = table.types.get(full_name(file.package, name))
        if (
            symbol is None
            or symbol.origin is not MessageOrigin.ENVELOPE
            or symbol.span != handler.name.span
        ):
            return []  # its name collided: reported when it was declared
        refs.append(symbol.ref)
    signature.call_envelope, signature.reply_envelope = refs
    if signature.request is None or signature.reply is None:
        return []
    call, reply = build_envelopes(
        report,
        function.name.text,
        handler,
        refs[0],
        refs[1],
        signature.request,
        signature.reply,
        signature.raised,
    )
    return [call, reply]
