"""The syntax tree of one .sfidl file: what was written, with where, before any checking.

Built by :mod:`sfidl.parse`; read only by :mod:`sfidl.check`. Names are not resolved
here: a :class:`TypeName` is the dotted text the user wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal as TypingLiteral

from sfidl.diagnostics import Span


@dataclass(frozen=True)
class Name:
    """An identifier as written, with its span."""

    text: str
    span: Span


@dataclass(frozen=True)
class TypeName:
    """A possibly dotted type or function name: ``Cart``, ``google.protobuf.Timestamp``."""

    parts: tuple[str, ...]
    span: Span

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class StringLit:
    value: str
    span: Span


@dataclass(frozen=True)
class Field:
    name: Name
    number: int
    number_span: Span
    type: TypeName  # the value type of a map
    span: Span
    label: TypingLiteral["repeated", "optional", "map"] | None = None
    map_key: TypeName | None = None
    doc: str = ""


@dataclass(frozen=True)
class Oneof:
    name: Name
    fields: tuple[Field, ...]
    span: Span


@dataclass(frozen=True)
class ReservedRange:
    start: int
    end: int | None  # inclusive; None for ``max``, whose value depends on the context
    span: Span


@dataclass(frozen=True)
class ReservedName:
    name: str
    span: Span


@dataclass(frozen=True)
class Reserved:
    items: tuple[ReservedRange | ReservedName, ...]
    span: Span


@dataclass(frozen=True)
class EnumValue:
    name: Name
    number: int
    span: Span
    doc: str = ""


@dataclass(frozen=True)
class Enum:
    name: Name
    values: tuple[EnumValue, ...]
    reserved: tuple[Reserved, ...]
    span: Span
    doc: str = ""


@dataclass(frozen=True)
class Message:
    """A ``message`` or, with ``is_error``, an ``error`` declaration."""

    name: Name
    fields: tuple[Field, ...]
    oneofs: tuple[Oneof, ...]
    reserved: tuple[Reserved, ...]
    messages: tuple[Message, ...]
    enums: tuple[Enum, ...]
    span: Span
    is_error: bool = False
    doc: str = ""


@dataclass(frozen=True)
class Literal:
    """A state default: ``0``, ``-3``, ``1.5``, ``true``, ``"x"``."""

    value: int | float | bool | str
    span: Span


@dataclass(frozen=True)
class Duration:
    millis: int
    span: Span


@dataclass(frozen=True)
class Expiry:
    mode: TypingLiteral["write", "call"]
    duration: Duration
    span: Span


@dataclass(frozen=True)
class Migration:
    """``migrate from Cart``: the type a state had in the previous version."""

    type: TypeName
    span: Span


@dataclass(frozen=True)
class State:
    name: Name
    type: TypeName
    span: Span
    default: Literal | None = None
    expiry: Expiry | None = None
    doc: str = ""
    migration: Migration | None = None


@dataclass(frozen=True)
class HandlerRef:
    """``Function.handler``; ``function`` may be qualified by a package."""

    function: TypeName
    handler: Name
    span: Span

    @property
    def text(self) -> str:
        return f"{self.function.text}.{self.handler.text}"


@dataclass(frozen=True)
class CallDecl:
    targets: tuple[HandlerRef, ...]
    continuation: Name
    span: Span
    is_join: bool = False  # written with parentheses
    carrying: TypeName | None = None
    timeout: Duration | None = None


@dataclass(frozen=True)
class Handler:
    """An ``rpc`` (with ``reply``) or an ``on`` (one-way) handler."""

    kind: TypingLiteral["rpc", "on"]
    name: Name
    request: TypeName
    span: Span
    reply: TypeName | None = None
    raises: tuple[TypeName, ...] = ()
    calls: tuple[CallDecl, ...] = ()
    sends: tuple[HandlerRef, ...] = ()
    emits: tuple[Name, ...] = ()
    sets: tuple[Name, ...] = ()  # timers of the same function
    completes: tuple[Name, ...] = ()  # rpc handlers of the same function
    doc: str = ""


@dataclass(frozen=True)
class Timer:
    name: Name
    message: TypeName
    span: Span
    calls: tuple[CallDecl, ...] = ()
    sends: tuple[HandlerRef, ...] = ()
    emits: tuple[Name, ...] = ()
    sets: tuple[Name, ...] = ()  # timers of the same function
    completes: tuple[Name, ...] = ()  # rpc handlers of the same function
    doc: str = ""


@dataclass(frozen=True)
class Function:
    name: Name
    states: tuple[State, ...]
    handlers: tuple[Handler, ...]
    timers: tuple[Timer, ...]
    span: Span
    doc: str = ""
    exclusive: bool = False


@dataclass(frozen=True)
class Channel:
    kind: TypingLiteral["kafka", "kinesis"]
    name: StringLit  # the topic or stream
    span: Span


@dataclass(frozen=True)
class Ingress:
    name: Name
    channel: Channel
    target: HandlerRef
    span: Span
    message: TypeName | None = None
    doc: str = ""


@dataclass(frozen=True)
class Egress:
    name: Name
    channel: Channel
    span: Span
    message: TypeName | None = None  # None: the dead-letter egress
    doc: str = ""


@dataclass(frozen=True)
class Import:
    path: StringLit
    span: Span


@dataclass(frozen=True)
class Setting:
    """A file-level deployment fact: ``endpoint``, ``kafka brokers``, ``kinesis region``."""

    kind: TypingLiteral["endpoint", "kafka brokers", "kinesis region"]
    value: StringLit
    span: Span


@dataclass(frozen=True)
class File:
    path: str  # the display path
    namespace: TypeName
    namespace_span: Span  # the whole `namespace ...;` statement
    imports: tuple[Import, ...] = ()
    settings: tuple[Setting, ...] = ()
    messages: tuple[Message, ...] = ()  # messages and errors, in source order
    enums: tuple[Enum, ...] = ()
    functions: tuple[Function, ...] = ()
    ingresses: tuple[Ingress, ...] = ()
    egresses: tuple[Egress, ...] = ()
    doc: str = ""

    @property
    def package(self) -> str:
        return self.namespace.text
