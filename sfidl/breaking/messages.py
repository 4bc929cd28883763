"""WIRE and JSON rules: how messages and enums encode, in binary and in JSON.

sfidl's generated envelopes are left to the CALLS rules, which name the rpc they belong to.
"""

from __future__ import annotations

from collections.abc import Iterator

from sfidl.breaking.pair import Pair
from sfidl.breaking.rule import Category, Change, Rule
from sfidl.diagnostics import Severity
from sfidl.model import EnumType, Field, Label, MessageOrigin, MessageType, Reserved, TypeKind

# Scalar changes that decode every old value to the same number or text: protobuf calls
# more changes "compatible" (int64 -> int32, uint32 <-> int32...), but those truncate or
# reinterpret values, so they are flagged here.
_WIDENINGS = {
    ("int32", "int64"),
    ("uint32", "uint64"),
    ("uint32", "int64"),
    ("sint32", "sint64"),
    ("bool", "int32"),
    ("bool", "int64"),
    ("bool", "uint32"),
    ("bool", "uint64"),
    ("string", "bytes"),
    ("enum", "int32"),
    ("enum", "int64"),
    ("int32", "enum"),
}
# Of those, the ones whose JSON form old clients wrote still parses.
_JSON_WIDENINGS = {
    ("int32", "int64"),
    ("uint32", "uint64"),
    ("uint32", "int64"),
    ("sint32", "sint64"),
    ("int32", "enum"),
}


def _kept_messages(pair: Pair) -> Iterator[tuple[MessageType, MessageType]]:
    for name, old in pair.old_messages.items():
        if old.origin is MessageOrigin.ENVELOPE:
            continue
        new = pair.new_messages.get(pair.counterpart(name))
        if new is not None:
            yield old, new


def _kept_fields(pair: Pair) -> Iterator[tuple[MessageType, Field, Field]]:
    for old_message, new_message in _kept_messages(pair):
        by_number = {f.number: f for f in new_message.fields}
        for old in old_message.fields:
            new = by_number.get(old.number)
            if new is not None:
                yield new_message, old, new


def _kept_enums(pair: Pair) -> Iterator[tuple[EnumType, EnumType]]:
    for name, old in pair.old_enums.items():
        new = pair.new_enums.get(pair.counterpart(name))
        if new is not None:
            yield old, new


def _reserved(reserved: Reserved, number: int) -> bool:
    return any(low <= number <= high for low, high in reserved.ranges)


def _written(field: Field) -> str:
    """The field's type as the .sfidl file writes it."""
    if field.label is Label.MAP:
        assert field.map_key is not None
        return f"map<{field.map_key.name}, {field.type.local_name}>"
    label = "" if field.label is Label.SINGULAR else field.label.value + " "
    return label + field.type.local_name


def _type_change(pair: Pair, old: Field, new: Field) -> tuple[str, str] | None:
    """(old, new) simple kinds when the field's value type changed, else None."""
    if pair.same_type(old.type, new.type) and pair.same_type(old.map_key, new.map_key):
        return None
    kinds = []
    for ref in (old.type, new.type):
        kinds.append("enum" if ref.kind is TypeKind.ENUM else ref.name)
    return kinds[0], kinds[1]


def _field_no_delete(pair: Pair) -> Iterator[Change]:
    for old_message, new_message in _kept_messages(pair):
        numbers = {f.number for f in new_message.fields}
        for old in old_message.fields:
            if old.number not in numbers and not _reserved(new_message.reserved, old.number):
                yield Change(
                    new_message.span,
                    f"`{new_message.name}` lost its field `{old.name} = {old.number}` "
                    "without reserving its number",
                    old.span,
                    fix=f'keep `reserved {old.number};` and `reserved "{old.name}";` '
                    f"in `{new_message.name}` so the number is never reused",
                )


def _field_wire_type(pair: Pair) -> Iterator[Change]:
    for message, old, new in _kept_fields(pair):
        if old.label is Label.MAP or new.label is Label.MAP:
            if old.label is new.label and _type_change(pair, old, new) is not None:
                yield _changed_type(message, old, new)
            continue
        change = _type_change(pair, old, new)
        both_enums = change == ("enum", "enum")
        if change is not None and not both_enums and change not in _WIDENINGS:
            yield _changed_type(message, old, new)


def _changed_type(message: MessageType, old: Field, new: Field) -> Change:
    return Change(
        new.span,
        f"`{message.name}.{new.name} = {new.number}` changed type from `{_written(old)}` "
        f"to `{_written(new)}`",
        old.span,
    )


def _field_same_label(pair: Pair) -> Iterator[Change]:
    plain = {Label.SINGULAR, Label.OPTIONAL}
    for message, old, new in _kept_fields(pair):
        if old.label is not new.label and not {old.label, new.label} <= plain:
            yield Change(
                new.span,
                f"`{message.name}.{new.name} = {new.number}` changed from `{_written(old)}` "
                f"to `{_written(new)}`",
                old.span,
            )


def _field_same_oneof(pair: Pair) -> Iterator[Change]:
    for message, old, new in _kept_fields(pair):
        if old.oneof != new.oneof:
            before = f"oneof `{old.oneof}`" if old.oneof else "no oneof"
            after = f"oneof `{new.oneof}`" if new.oneof else "no oneof"
            yield Change(
                new.span,
                f"`{message.name}.{new.name} = {new.number}` moved from {before} to {after}",
                old.span,
            )


def _field_reserved_reused(pair: Pair) -> Iterator[Change]:
    for old_message, new_message in _kept_messages(pair):
        for new in new_message.fields:
            if _reserved(old_message.reserved, new.number):
                yield Change(
                    new.span,
                    f"`{new_message.name}.{new.name}` takes the number {new.number}, "
                    "which the old version reserved",
                    old_message.span,
                )


def _enum_value_no_delete(pair: Pair) -> Iterator[Change]:
    for old_enum, new_enum in _kept_enums(pair):
        numbers = {v.number for v in new_enum.values}
        for old in old_enum.values:
            if old.number not in numbers and not _reserved(new_enum.reserved, old.number):
                yield Change(
                    new_enum.span,
                    f"`{new_enum.name}` lost its value `{old.name} = {old.number}` "
                    "without reserving it",
                    old.span,
                    fix=f'keep `reserved {old.number};` and `reserved "{old.name}";` '
                    f"in `{new_enum.name}`",
                )


def _field_json_name(pair: Pair) -> Iterator[Change]:
    for message, old, new in _kept_fields(pair):
        if old.name != new.name:
            yield Change(
                new.span,
                f"field {new.number} of `{message.name}` was renamed from `{old.name}` "
                f"to `{new.name}`",
                old.span,
            )


def _field_json_type(pair: Pair) -> Iterator[Change]:
    for message, old, new in _kept_fields(pair):
        if old.label is Label.MAP or new.label is Label.MAP:
            continue
        change = _type_change(pair, old, new)
        if change is not None and (change in _WIDENINGS or change == ("enum", "enum")):
            if change not in _JSON_WIDENINGS:
                yield Change(
                    new.span,
                    f"`{message.name}.{new.name}` changed type from `{_written(old)}` "
                    f"to `{_written(new)}`: the same in binary, not in JSON",
                    old.span,
                )


def _enum_value_json_name(pair: Pair) -> Iterator[Change]:
    for old_enum, new_enum in _kept_enums(pair):
        names = {v.number: v for v in new_enum.values}
        for old in old_enum.values:
            new = names.get(old.number)
            if new is not None and new.name != old.name:
                yield Change(
                    new.span,
                    f"value {old.number} of `{new_enum.name}` was renamed from `{old.name}` "
                    f"to `{new.name}`",
                    old.span,
                )


_RESERVE = "reserve the old number and name, and add a new field with a new number"

RULES = (
    Rule(
        "FIELD_NO_DELETE",
        Category.WIRE,
        Severity.ERROR,
        "a field number freed without `reserved` can be reused for another type, and then "
        "state, in-flight messages and Kafka records written before decode wrongly",
        "reserve the number and the name of a removed field",
        _field_no_delete,
    ),
    Rule(
        "FIELD_WIRE_TYPE",
        Category.WIRE,
        Severity.ERROR,
        "values written with the old type (stored state, in-flight messages, topic records) "
        "fail to decode or decode to other values with the new one",
        _RESERVE,
        _field_wire_type,
    ),
    Rule(
        "FIELD_SAME_LABEL",
        Category.WIRE,
        Severity.ERROR,
        "a single value, a list and a map encode differently: old data decodes to the "
        "wrong shape or loses elements",
        _RESERVE,
        _field_same_label,
    ),
    Rule(
        "FIELD_SAME_ONEOF",
        Category.WIRE,
        Severity.ERROR,
        "a decoder keeps only the last field of a oneof it reads: data written while the "
        "field was outside (or in another) oneof loses values",
        _RESERVE,
        _field_same_oneof,
    ),
    Rule(
        "FIELD_RESERVED_REUSED",
        Category.WIRE,
        Severity.ERROR,
        "a reserved number may still hold values of the field it retired in stored state "
        "and topics; the new field would decode them as its own",
        "pick a number that was never used",
        _field_reserved_reused,
    ),
    Rule(
        "ENUM_VALUE_NO_DELETE",
        Category.WIRE,
        Severity.ERROR,
        "stored data may still hold the removed number: it decodes to a number no name "
        "stands for, and the number can be reused for another meaning",
        "reserve the number and the name of a removed value",
        _enum_value_no_delete,
    ),
    Rule(
        "FIELD_JSON_NAME",
        Category.JSON,
        Severity.ERROR,
        "JSON names fields: the HTTP ingress and the playground reject or drop JSON "
        "written with the old name (and the Python attribute changes too)",
        "keep the name; to rename, add a field with a new number and retire the old one",
        _field_json_name,
    ),
    Rule(
        "FIELD_JSON_TYPE",
        Category.JSON,
        Severity.ERROR,
        "the binary encoding is the same but JSON is not (an enum name, a bool, base64 "
        "bytes): JSON written for the old type no longer parses",
        "keep the type, or add a field with a new number",
        _field_json_type,
    ),
    Rule(
        "ENUM_VALUE_JSON_NAME",
        Category.JSON,
        Severity.ERROR,
        "JSON writes enum values by name: JSON written with the old name no longer parses",
        "keep the name; add a value with a new number for the new meaning",
        _enum_value_json_name,
    ),
)
