"""Where each name of a program is declared and where it is used: what an editor needs
for hover, go-to-definition, completion and an outline.

Built from the parsed files with the checker's own name resolution
(:class:`sfidl.check.scope.Resolver`), so that a name means here what it means to the
compiler. It works on a program with errors too: a name that does not resolve is just
not a reference.

    index = build_index(analysis.units)
    index.at("shop.sfidl", 12, 9)     # (span of the name there, the declaration it names)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from sfidl import ast, signatures
from sfidl.check import Unit
from sfidl.check.envelopes import declare_envelopes
from sfidl.check.functions import declare_functions
from sfidl.check.report import Reporter
from sfidl.check.scope import Resolver, SymbolTable
from sfidl.check.types import declare_types, full_name
from sfidl.diagnostics import Span
from sfidl.model import MessageOrigin
from sfidl.naming import snake_case


class Kind(Enum):
    MESSAGE = "message"
    ERROR = "error"
    ENUM = "enum"
    ENUM_VALUE = "enum value"
    FIELD = "field"
    ONEOF = "oneof"
    FUNCTION = "function"
    STATE = "state"
    RPC = "rpc"
    ONEWAY = "on"
    TIMER = "timer"
    CONTINUATION = "continuation"
    INGRESS = "ingress"
    EGRESS = "egress"


HANDLERS = (Kind.RPC, Kind.ONEWAY)


@dataclass(frozen=True)
class Declaration:
    kind: Kind
    name: str
    # What it is known by outside its file: a type's protobuf full name, a function's
    # StateFun typename, ``Function.member``, an ingress's or egress's id.
    qualified: str
    span: Span  # the name
    extent: Span  # the whole declaration (from its name for a type or function)
    signature: str  # the declaration as sfidl text, without its doc comment
    doc: str = ""
    children: tuple[Declaration, ...] = ()


@dataclass(frozen=True)
class Reference:
    """A name written at ``span`` that means ``target``."""

    span: Span
    target: Declaration


@dataclass(frozen=True)
class Index:
    """Declarations and references by display path, and the names each file can use."""

    declarations: Mapping[str, tuple[Declaration, ...]]  # top level, in source order
    references: Mapping[str, tuple[Reference, ...]]
    _resolvers: Mapping[str, Resolver]
    _by_name_span: Mapping[Span, Declaration]

    def at(self, file: str, line: int, column: int) -> tuple[Span, Declaration] | None:
        """The name at a 1-based position (its end included) and the declaration it names."""
        for reference in self.references.get(file, ()):
            if _contains(reference.span, line, column):
                return reference.span, reference.target
        for declaration in walk(self.declarations.get(file, ())):
            if _contains(declaration.span, line, column):
                return declaration.span, declaration
        return None

    def type_names(self, file: str) -> list[tuple[str, Declaration | None]]:
        """Every type ``file`` may name, as it would write it; None for a well-known type."""
        resolver = self._resolvers.get(file)
        if resolver is None:
            return []
        names = [
            (
                _relative(resolver, symbol.ref.name),
                None if symbol.span is None else self._by_name_span.get(symbol.span),
            )
            for symbol in resolver.table.types.values()
            if symbol.file in resolver.visible and symbol.origin is not MessageOrigin.ENVELOPE
        ]
        return sorted(names, key=lambda n: n[0])

    def function_names(self, file: str) -> list[tuple[str, Declaration]]:
        """Every function ``file`` may name, as it would write it."""
        resolver = self._resolvers.get(file)
        if resolver is None:
            return []
        names = [
            (_relative(resolver, symbol.full_name), self._by_name_span[symbol.node.name.span])
            for symbol in resolver.table.functions.values()
            if symbol.file in resolver.visible
        ]
        return sorted(names, key=lambda n: n[0])

    def function(self, file: str, written: str) -> Declaration | None:
        """The function ``written`` (``Inventory``, ``common.Audit``) names in ``file``."""
        resolver = self._resolvers.get(file)
        parts = tuple(written.split("."))
        if resolver is None or not all(p.isidentifier() for p in parts):
            return None
        symbol = resolver.function(ast.TypeName(parts, Span.point(file, 1, 1)))
        return None if symbol is None else self._by_name_span.get(symbol.node.name.span)


def walk(declarations: Iterable[Declaration]) -> Iterator[Declaration]:
    """Every declaration and, after each, its children, depth first."""
    for declaration in declarations:
        yield declaration
        yield from walk(declaration.children)


def build_index(units: Sequence[Unit]) -> Index:
    """The index of the parsed files of one program, in dependency order (the root last)."""
    # The checker reports what is wrong with these names; here they are only looked up.
    report = Reporter()
    table = SymbolTable()
    for unit in units:
        declare_types(table, report, unit.file, unit.proto_file)
    for unit in units:
        declare_envelopes(table, report, unit.file, unit.proto_file)
    for unit in units:
        declare_functions(table, report, unit.file)
    declarations = {unit.file.path: _declare_file(unit.file) for unit in units}
    by_name_span = {d.span: d for decls in declarations.values() for d in walk(decls)}
    resolvers: dict[str, Resolver] = {}
    references: dict[str, tuple[Reference, ...]] = {}
    for unit in units:
        file = unit.file
        resolver = Resolver(table, report, file.path, file.package, unit.imports, complete=False)
        resolvers[file.path] = resolver
        finder = _References(resolver, by_name_span, declarations[file.path])
        finder.file(file)
        references[file.path] = tuple(sorted(finder.found, key=lambda r: r.span))
    return Index(declarations, references, resolvers, by_name_span)


def _contains(span: Span, line: int, column: int) -> bool:
    return (span.line, span.column) <= (line, column) <= (span.end_line, span.end_column)


def _relative(resolver: Resolver, name: str) -> str:
    return name.removeprefix(resolver.package + ".") if resolver.package else name


def _through(start: Span, parts: Iterable[Span]) -> Span:
    """From ``start`` to the end of the last of ``parts``."""
    end = max(parts, key=lambda p: (p.end_line, p.end_column), default=start)
    return Span(start.file, start.line, start.column, end.end_line, end.end_column)


# ---------------------------------------------------------------- declarations


def _declare_file(file: ast.File) -> tuple[Declaration, ...]:
    package = file.package
    found = [_message(m, package) for m in file.messages]
    found += [_enum(e, package) for e in file.enums]
    found += [_function(f, package) for f in file.functions]
    found += [
        Declaration(
            Kind.INGRESS,
            i.name.text,
            f"{package}/{i.name.text}",
            i.name.span,
            i.span,
            signatures.ingress(i),
            i.doc,
        )
        for i in file.ingresses
    ]
    found += [
        Declaration(
            Kind.EGRESS,
            e.name.text,
            f"{package}/{e.name.text}",
            e.name.span,
            e.span,
            signatures.egress(e),
            e.doc,
        )
        for e in file.egresses
    ]
    return tuple(sorted(found, key=lambda d: d.span))


def _message(message: ast.Message, scope: str) -> Declaration:
    name = full_name(scope, message.name.text)
    fields = [_field(f, name) for f in message.fields]
    oneofs = [
        Declaration(
            Kind.ONEOF,
            o.name.text,
            full_name(name, o.name.text),
            o.name.span,
            o.span,
            f"oneof {o.name.text}",
            children=tuple(_field(f, name) for f in o.fields),
        )
        for o in message.oneofs
    ]
    nested = [_message(m, name) for m in message.messages] + [_enum(e, name) for e in message.enums]
    children = tuple(sorted(fields + oneofs + nested, key=lambda d: d.span))
    return Declaration(
        Kind.ERROR if message.is_error else Kind.MESSAGE,
        message.name.text,
        name,
        message.name.span,
        _through(message.name.span, (c.extent for c in children)),
        signatures.message(message),
        message.doc,
        children,
    )


def _field(value: ast.Field, message: str) -> Declaration:
    return Declaration(
        Kind.FIELD,
        value.name.text,
        full_name(message, value.name.text),
        value.name.span,
        value.span,
        signatures.field(value),
        value.doc,
    )


def _enum(enum: ast.Enum, scope: str) -> Declaration:
    name = full_name(scope, enum.name.text)
    values = tuple(
        Declaration(
            Kind.ENUM_VALUE,
            v.name.text,
            # protobuf scopes enum values as siblings of their enum.
            full_name(scope, v.name.text),
            v.name.span,
            v.span,
            signatures.enum_value(v),
            v.doc,
        )
        for v in enum.values
    )
    return Declaration(
        Kind.ENUM,
        enum.name.text,
        name,
        enum.name.span,
        _through(enum.name.span, (v.extent for v in values)),
        signatures.enum(enum),
        enum.doc,
        values,
    )


def _function(function: ast.Function, package: str) -> Declaration:
    owner = function.name.text
    members: list[Declaration] = [
        Declaration(
            Kind.STATE,
            s.name.text,
            f"{owner}.{s.name.text}",
            s.name.span,
            s.span,
            signatures.state(s),
            s.doc,
        )
        for s in function.states
    ]
    methods: list[ast.Handler | ast.Timer] = sorted(
        [*function.handlers, *function.timers], key=lambda m: m.span
    )
    for method in methods:
        kind = Kind.TIMER if isinstance(method, ast.Timer) else _handler_kind(method)
        members.append(
            Declaration(
                kind,
                method.name.text,
                f"{owner}.{method.name.text}",
                method.name.span,
                method.span,
                signatures.member(method),
                method.doc,
            )
        )
    # A continuation is declared by the first call naming it; later calls refer to it.
    continuations: dict[str, Declaration] = {}
    for method in methods:
        for call in method.calls:
            name = call.continuation
            continuations.setdefault(
                name.text,
                Declaration(
                    Kind.CONTINUATION,
                    name.text,
                    f"{owner}.{name.text}",
                    name.span,
                    call.span,
                    signatures.continuation(name.text, call),
                ),
            )
    children = tuple(sorted(members + list(continuations.values()), key=lambda d: d.span))
    return Declaration(
        Kind.FUNCTION,
        owner,
        f"{package}/{snake_case(owner)}",
        function.name.span,
        _through(function.name.span, (c.extent for c in children)),
        signatures.function(function),
        function.doc,
        children,
    )


def _handler_kind(handler: ast.Handler) -> Kind:
    return Kind.RPC if handler.kind == "rpc" else Kind.ONEWAY


# ---------------------------------------------------------------- references


@dataclass
class _References:
    """Finds the references of one file, resolving names as the checker does."""

    resolver: Resolver
    by_name_span: Mapping[Span, Declaration]
    own: tuple[Declaration, ...]  # the file's declarations
    found: list[Reference] = field(default_factory=list)

    def file(self, file: ast.File) -> None:
        for message in file.messages:
            self._message(message, file.package)
        functions = {d.span: d for d in self.own if d.kind is Kind.FUNCTION}
        egresses = {d.name: d for d in reversed(self.own) if d.kind is Kind.EGRESS}
        for function in file.functions:
            self._function(function, functions[function.name.span], egresses)
        for ingress in file.ingresses:
            self._type(ingress.message)
            self._handler_ref(ingress.target)
        for egress in file.egresses:
            self._type(egress.message)

    def _add(self, span: Span, target: Declaration | None) -> None:
        if target is not None and target.span != span:
            self.found.append(Reference(span, target))

    def _type(self, name: ast.TypeName | None, scope: str | None = None) -> None:
        if name is None:
            return
        symbol = self.resolver.type(name, scope)
        if symbol is not None and symbol.span is not None:
            self._add(name.span, self.by_name_span.get(symbol.span))

    def _message(self, message: ast.Message, scope: str) -> None:
        name = full_name(scope, message.name.text)
        for value in (*message.fields, *(f for o in message.oneofs for f in o.fields)):
            self._type(value.type, name)
            self._type(value.map_key, name)
        for nested in message.messages:
            self._message(nested, name)

    def _handler_ref(self, ref: ast.HandlerRef) -> None:
        symbol = self.resolver.function(ref.function)
        if symbol is None:
            return
        function = self.by_name_span.get(symbol.node.name.span)
        self._add(ref.function.span, function)
        if function is not None:
            self._add(ref.handler.span, _child(function, ref.handler.text, HANDLERS))

    def _function(
        self,
        function: ast.Function,
        declaration: Declaration,
        egresses: Mapping[str, Declaration],
    ) -> None:
        for state in function.states:
            self._type(state.type)
            self._type(state.migration.type if state.migration else None)
        methods: list[ast.Handler | ast.Timer] = [*function.handlers, *function.timers]
        for method in methods:
            if isinstance(method, ast.Timer):
                self._type(method.message)
            else:
                self._type(method.request)
                self._type(method.reply)
                for raised in method.raises:
                    self._type(raised)
            for call in method.calls:
                for target in call.targets:
                    self._handler_ref(target)
                self._type(call.carrying)
                self._add(
                    call.continuation.span,
                    _child(declaration, call.continuation.text, (Kind.CONTINUATION,)),
                )
            for ref in method.sends:
                self._handler_ref(ref)
            for name in method.emits:
                self._add(name.span, egresses.get(name.text))
            for name in method.sets:
                self._add(name.span, _child(declaration, name.text, (Kind.TIMER,)))
            for name in method.completes:
                self._add(name.span, _child(declaration, name.text, (Kind.RPC,)))


def _child(parent: Declaration, name: str, kinds: tuple[Kind, ...]) -> Declaration | None:
    return next((c for c in parent.children if c.name == name and c.kind in kinds), None)
