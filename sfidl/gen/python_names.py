"""How model entities are spelled in generated Python: modules, types, literals, durations."""

from __future__ import annotations

from collections.abc import Iterable

from sfidl.gen.black_layout import docstring as black_docstring
from sfidl.gen.black_layout import plain_docstring
from sfidl.model import Program, TypeKind, TypeRef
from sfidl.wire import STATE_SCALARS

# Python types of the scalars a state can hold, and the runtime's SDK type constant (as the
# stubs spell it: they import sfidl.runtime as `_sf`).
STATE_SCALAR_PYTHON = {
    name: (scalar.python, f"_sf.{scalar.constant}") for name, scalar in STATE_SCALARS.items()
}

_UNITS = (
    ("days", 86_400_000),
    ("hours", 3_600_000),
    ("minutes", 60_000),
    ("seconds", 1_000),
    ("milliseconds", 1),
)


def pb2_module(proto_file: str) -> str:
    """The Python module protoc writes for a .proto: ``google/protobuf/x.proto`` -> ``google.protobuf.x_pb2``."""
    return proto_file.removesuffix(".proto").replace("/", ".") + "_pb2"


class Pb2Aliases:
    """The private name the stubs import each .proto's ``_pb2`` module under: ``_shop_pb2``.

    The program's own files have distinct stems, so their names are distinct. A well-known
    type's module (``google.protobuf.timestamp_pb2``) takes ``_timestamp_pb2``, or
    ``_timestamp_pb2_`` when one of the program's files is ``timestamp.sfidl`` (no file's
    name ends in `_`). No declared name starts with `_`, so none of these hides one.
    """

    def __init__(self, program: Program) -> None:
        self.own = {f"_{pb2_module(s.proto_file)}" for s in program.files}

    def __call__(self, proto_file: str) -> str:
        module = pb2_module(proto_file)
        alias = "_" + module.rsplit(".", 1)[-1]
        return alias + "_" if "." in module and alias in self.own else alias


def import_line(proto_file: str, alias: str) -> str:
    """``import shop_pb2 as _shop_pb2``, ``from google.protobuf import x_pb2 as _x_pb2``."""
    module = pb2_module(proto_file)
    if "." in module:
        package, name = module.rsplit(".", 1)
        return f"from {package} import {name} as {alias}"
    return f"import {module} as {alias}"


def python_type(ref: TypeRef, modules: Pb2Aliases) -> str:
    """The annotation for a value of ``ref`` in the stubs: a message class of a module
    imported under its private name, or a scalar's builtin type."""
    if ref.kind is TypeKind.SCALAR:
        return f"_builtins.{STATE_SCALAR_PYTHON[ref.name][0]}"
    return f"{modules(ref.proto_file)}.{ref.local_name}"


def timedelta_expr(millis: int) -> str:
    """The shortest exact ``_timedelta(...)`` for a whole number of milliseconds (the stubs
    import ``datetime.timedelta`` as ``_timedelta``)."""
    for unit, size in _UNITS:
        if millis % size == 0:
            return f"_timedelta({unit}={millis // size})"
    raise AssertionError("unreachable: milliseconds divide every integer")


def literal(value: int | float | bool | str) -> str:
    """A Python literal, with the quotes black would choose."""
    if isinstance(value, str):
        return string_literal(value)
    return repr(value)


def string_literal(text: str) -> str:
    """A string literal in double quotes, black's choice, unless that would need escapes."""
    if text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    return repr(text)  # black's own quote normalisation formats the block holding it


def tuple_literal(items: Iterable[str]) -> str:
    """``(a, b)``, ``(a,)`` or ``()``: a tuple display black leaves as it is on one line."""
    items = list(items)
    if len(items) == 1:
        return f"({items[0]},)"
    return f"({', '.join(items)})"


def docstring(text: str, indent: int) -> str:
    """A docstring literal at ``indent`` columns, as black writes it.

    Text black would escape or re-expand (backslashes, tabs, triple quotes) is written
    escaped instead and black formats its block (:mod:`sfidl.gen.python_format`).
    """
    if plain_docstring(text):
        return black_docstring(text, " " * indent)
    return docstring_literal(text)


def attribute_docstring(text: str, indent: int) -> str:
    """The string literal after an attribute: black leaves its lines where they are."""
    pad = " " * indent
    return "\n".join(
        pad + line if i and line else line
        for i, line in enumerate(docstring_literal(text).split("\n"))
    )


def docstring_literal(text: str) -> str:
    """A triple-quoted docstring holding ``text`` exactly, whatever quotes, backslashes or
    control characters it has (Python source cannot hold a NUL, and reads a CR as a newline)."""
    body = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    body = "".join(c if c.isprintable() or c in "\n\t" else repr(c)[1:-1] for c in body)
    if body.endswith('"'):
        body = body[:-1] + '\\"'
    return f'"""{body}"""'
