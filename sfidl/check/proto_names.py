"""The length of protobuf full names: protoc refuses a symbol whose full name is too long.

protoc (the bundled grpc_tools one) fails with "Name too long." on any symbol whose
full name is longer than 65,535 characters, found by experiment: a message's full name
is ``package.Outer.Inner``, a field's and a oneof's that of their message plus
``.name``, an enum value's that of its enum's scope (values are siblings of their enum),
and a map field's entry message (``ItemsEntry``) has fields ``key`` and ``value``.
The namespace alone has its own, smaller limit (sfidl/check/__init__.py).
"""

from __future__ import annotations

from sfidl.check import rules
from sfidl.check.derived_names import map_entry_name
from sfidl.check.report import Reporter
from sfidl.diagnostics import Span
from sfidl.model import EnumType, Label, MessageType, Program

MAX_FULL_NAME = 65_535


def check_full_names(report: Reporter, program: Program) -> None:
    """Report every declaration whose protobuf full name protoc would refuse as too long.

    A message whose own name is too long is reported alone, not with each of its members.
    """
    for source in program.files:
        for message in source.messages:
            _message(report, message)
        for enum in source.enums:
            _enum(report, enum, source.package)


def _message(report: Reporter, message: MessageType) -> None:
    if _too_long(report, message.full_name, f"the message {message.name}", message.span):
        return
    for field in message.fields:
        name = f"{message.full_name}.{field.name}"
        if _too_long(report, name, f"the field {field.name}", field.span):
            continue
        if field.label is Label.MAP:
            # The entry message's longest member is its field `value`.
            entry = f"{message.full_name}.{map_entry_name(field.name)}.value"
            _too_long(report, entry, f"the map entry of {field.name}", field.span)
    for oneof in message.oneofs:
        _too_long(report, f"{message.full_name}.{oneof}", f"the oneof {oneof}", message.span)
    for nested in message.messages:
        _message(report, nested)
    for enum in message.enums:
        _enum(report, enum, message.full_name)


def _enum(report: Reporter, enum: EnumType, scope: str) -> None:
    if _too_long(report, enum.full_name, f"the enum {enum.name}", enum.span):
        return
    for value in enum.values:
        _too_long(report, f"{scope}.{value.name}", f"the enum value {value.name}", value.span)


def _too_long(report: Reporter, full_name: str, what: str, span: Span) -> bool:
    if len(full_name) <= MAX_FULL_NAME:
        return False
    report.error(
        span,
        f"the protobuf full name of {_shown(what)} is {len(full_name):,} characters long; "
        f"protoc accepts at most {MAX_FULL_NAME:,}",
        hint="shorten it, or the namespace and messages it is declared in",
        code=rules.NAME_TOO_LONG,
    )
    return True


def _shown(what: str) -> str:
    """``the field aaaaaaaaaaaa…aaaa (100,000 characters)``: a long name, abbreviated."""
    kind, _, name = what.rpartition(" ")
    if len(name) <= 40:
        return what
    return f"{kind} {name[:24]}…{name[-8:]} ({len(name):,} characters)"
