"""Name resolution: every declared type and function of the program, and lookups by the
protobuf rules (innermost scope first, then outwards to the package root).

A file sees its own declarations, those of the files it imports directly, and the
well-known types.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from sfidl import ast
from sfidl.check import rules
from sfidl.check.report import Reporter, where
from sfidl.diagnostics import Span
from sfidl.model import SCALARS, MessageOrigin, TypeKind, TypeRef

_WELL_KNOWN_FILES = {
    "Timestamp": "timestamp",
    "Duration": "duration",
    "Empty": "empty",
    "Struct": "struct",
    "Value": "struct",
    "ListValue": "struct",
    "Any": "any",
    "FieldMask": "field_mask",
    **{
        wrapper: "wrappers"
        for wrapper in (
            "DoubleValue",
            "FloatValue",
            "Int64Value",
            "UInt64Value",
            "Int32Value",
            "UInt32Value",
            "BoolValue",
            "StringValue",
            "BytesValue",
        )
    },
}


@dataclass(frozen=True)
class TypeSymbol:
    """A type any name may resolve to; ``origin`` is None for scalars and enums."""

    ref: TypeRef
    origin: MessageOrigin | None = None
    file: str = ""  # the display path of the declaring file; "" for built-in types
    span: Span | None = None

    @property
    def is_message(self) -> bool:
        return self.ref.kind is TypeKind.MESSAGE

    def describe(self) -> str:
        """``the message `Cart```, ``the enum `Status```, ``the scalar `int32```."""
        if self.ref.kind is TypeKind.SCALAR:
            return f"the scalar `{self.ref.name}`"
        if self.ref.kind is TypeKind.ENUM:
            return f"the enum `{self.ref.local_name}`"
        kind = {MessageOrigin.ERROR: "error", MessageOrigin.ENVELOPE: "generated message"}
        return f"the {kind.get(self.origin or MessageOrigin.MESSAGE, 'message')} `{self.ref.local_name}`"


@dataclass
class FunctionSymbol:
    """A declared function, filled in as checking proceeds."""

    name: str
    full_name: str
    typename: str
    file: str
    package: str
    node: ast.Function


@dataclass
class SymbolTable:
    """All names of the program, by protobuf full name."""

    types: dict[str, TypeSymbol] = field(default_factory=dict)
    functions: dict[str, FunctionSymbol] = field(default_factory=dict)
    # Everything that occupies a name in a protobuf scope (types, enum values, fields),
    # to report duplicates: full name -> where it was declared.
    names: dict[str, Span] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, stem in _WELL_KNOWN_FILES.items():
            ref = TypeRef(
                TypeKind.MESSAGE,
                f"google.protobuf.{name}",
                "google.protobuf",
                f"google/protobuf/{stem}.proto",
            )
            self.types[ref.name] = TypeSymbol(ref, MessageOrigin.MESSAGE)

    def claim(self, report: Reporter, scope: str, name: ast.Name, what: str) -> bool:
        """Take ``name`` in ``scope``; report a duplicate and return False if taken."""
        full = f"{scope}.{name.text}" if scope else name.text
        previous = self.names.get(full)
        if previous is not None:
            report.error(
                name.span,
                f"duplicate name `{name.text}`: already declared at {where(previous)}",
                hint=f"every {what} needs a name of its own in `{scope}`" if scope else None,
                code=rules.DUPLICATE_NAME,
            )
            return False
        self.names[full] = name.span
        return True


def candidates_in_scope(scope: str) -> list[str]:
    """The prefixes to try for a relative name in ``scope``: ``a.b``, ``a``, ``""``."""
    parts = scope.split(".") if scope else []
    return [".".join(parts[:i]) for i in range(len(parts), -1, -1)]


class Resolver:
    """Looks names up as seen from one file (and one scope inside it)."""

    def __init__(
        self,
        table: SymbolTable,
        report: Reporter,
        file: str,
        package: str,
        visible: Iterable[str],
        complete: bool,
    ) -> None:
        self.table = table
        self.report = report
        self.file = file
        self.package = package
        self.visible = frozenset(visible) | {file, ""}
        # Unknown names are not reported in a file whose imports failed to load:
        # they most likely live in the file that could not be read.
        self.complete = complete
        self._functions: list[str] | None = None
        self._types: tuple[list[str], dict[str, list[str]]] | None = None

    def type(self, name: ast.TypeName, scope: str | None = None) -> TypeSymbol | None:
        """The type ``name`` means in ``scope`` (a message's full name, or the package)."""
        if len(name.parts) == 1 and name.text in SCALARS:
            return TypeSymbol(TypeRef(TypeKind.SCALAR, name.text))
        found = self._lookup(name.text, scope or self.package, self.table.types)
        if isinstance(found, TypeSymbol):
            return found
        if self.complete:
            self._unknown_type(name, found)
        return None

    def function(self, name: ast.TypeName) -> FunctionSymbol | None:
        found = self._lookup(name.text, self.package, self.table.functions)
        if isinstance(found, FunctionSymbol):
            return found
        if not self.complete:
            return None
        if found is not None:
            self.report.error(
                name.span,
                f"function `{name.text}` is declared in `{found}`, which this file does not import",
                code=rules.NOT_IMPORTED,
            )
            return None
        self.report.error(
            name.span,
            f"unknown function `{name.text}`",
            hint=self.report.did_you_mean(name.text, self._function_names()),
            code=rules.UNKNOWN_FUNCTION,
        )
        return None

    def _lookup(
        self, name: str, scope: str, table: dict[str, TypeSymbol] | dict[str, FunctionSymbol]
    ) -> TypeSymbol | FunctionSymbol | str | None:
        """The visible symbol, or the file declaring an invisible one, or None."""
        invisible: str | None = None
        for prefix in candidates_in_scope(scope):
            symbol = table.get(f"{prefix}.{name}" if prefix else name)
            if symbol is None:
                continue
            if symbol.file in self.visible:
                return symbol
            invisible = invisible or symbol.file
        return invisible

    def _visible(
        self, table: dict[str, TypeSymbol] | dict[str, FunctionSymbol]
    ) -> list[TypeSymbol | FunctionSymbol]:
        return [s for s in table.values() if s.file in self.visible]

    # The candidates of "did you mean" hints, gathered on the first unknown name: every
    # declaration is in the table by then, and each later unknown name reuses them.

    def _function_names(self) -> list[str]:
        if self._functions is None:
            functions = self._visible(self.table.functions)
            self._functions = [
                self._relative(f.full_name) for f in functions if isinstance(f, FunctionSymbol)
            ]
        return self._functions

    def _type_names(self) -> tuple[list[str], dict[str, list[str]]]:
        """The visible types' names as this file writes them, and them by their last part."""
        if self._types is None:
            visible = [s for s in self._visible(self.table.types) if isinstance(s, TypeSymbol)]
            names = [self._relative(s.ref.name) for s in visible] + list(SCALARS)
            by_last_part: dict[str, list[str]] = {}
            for written in sorted(names):
                by_last_part.setdefault(written.rsplit(".", 1)[-1], []).append(written)
            self._types = names, by_last_part
        return self._types

    def _relative(self, full_name: str) -> str:
        if full_name.startswith(self.package + "."):
            return full_name[len(self.package) + 1 :]
        return full_name

    def _unknown_type(
        self, name: ast.TypeName, invisible: TypeSymbol | FunctionSymbol | str | None
    ) -> None:
        if isinstance(invisible, str):
            self.report.error(
                name.span,
                f"type `{name.text}` is declared in `{invisible}`, which this file does not import",
                code=rules.NOT_IMPORTED,
            )
            return
        names, by_last_part = self._type_names()
        hint = self.report.did_you_mean(name.text, names)
        if hint is None:
            # `Timestamp` for `google.protobuf.Timestamp`, `Money` for `common.Money`.
            same = [n for n in by_last_part.get(name.parts[-1], ()) if n != name.text]
            hint = f"did you mean `{same[0]}`?" if same else None
        self.report.error(
            name.span, f"unknown type `{name.text}`", hint=hint, code=rules.UNKNOWN_TYPE
        )
