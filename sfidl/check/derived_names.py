"""Names protoc derives from declared ones, and names its Python output already uses.

protoc rejects a .proto whose derived names collide (two fields with one JSON name, a
map field whose entry message is taken, enum values equal once their prefix is gone);
the ``_pb2`` module and mypy-protobuf's ``.pyi`` define attributes of their own that a
declared name must not shadow. The rules are copied from protoc's ``descriptor.cc``.
"""

from __future__ import annotations

# Attributes of every generated message class (google.protobuf.message.Message).
MESSAGE_ATTRIBUTES = frozenset(
    """ByteSize Clear ClearExtension ClearField CopyFrom DESCRIPTOR DiscardUnknownFields
    Extensions FromString HasExtension HasField IsInitialized ListFields MergeFrom
    MergeFromString ParseFromString RegisterExtension SerializePartialToString
    SerializeToString SetInParent UnknownFields WhichOneof""".split()
)

# Attributes of an enum's wrapper class (EnumTypeWrapper, a subclass of `type` in the stubs)
# and of the enum class mypy-protobuf declares (`ValueType`, `V`).
ENUM_ATTRIBUTES = frozenset("DESCRIPTOR Name Value keys values items mro ValueType V".split())

# Top-level names of a `_pb2` module and its stubs: the file descriptor, the unaliased
# `import sys` of the stubs; `Global___<Type>` aliases are reserved as a prefix.
MODULE_ATTRIBUTES = frozenset(["DESCRIPTOR", "sys"])
MODULE_PREFIX = "Global___"


def json_name(field: str) -> str:
    """protoc's default JSON name: ``foo_bar`` -> ``fooBar`` (ToJsonName)."""
    if "_" not in field:  # most names: nothing to change
        return field
    out: list[str] = []
    upper = False
    for char in field:
        if char == "_":
            upper = True
        else:
            out.append(char.upper() if upper else char)
            upper = False
    return "".join(out)


def map_entry_name(field: str) -> str:
    """The nested message protoc generates for a map field: ``items`` -> ``ItemsEntry``."""
    out: list[str] = []
    upper = True
    for char in field:
        if char == "_":
            upper = True
        else:
            out.append(char.upper() if upper and "a" <= char <= "z" else char)
            upper = False
    return "".join(out) + "Entry"


def enum_value_key(enum: str, value: str) -> str:
    """What protoc compares enum values by: the value without the enum's name as a prefix
    (ignoring case and `_`), in PascalCase: in ``enum Kind``, ``KIND_GIFT`` and ``Gift``
    are both ``Gift``."""
    prefix = enum.replace("_", "").lower()
    i = j = 0
    while i < len(value) and j < len(prefix):
        if value[i] != "_":
            if value[i].lower() != prefix[j]:
                break
            j += 1
        i += 1
    stripped = value
    if j == len(prefix):
        while i < len(value) and value[i] == "_":
            i += 1
        if i < len(value):
            stripped = value[i:]
    return "".join(part[:1].upper() + part[1:].lower() for part in stripped.split("_") if part)


def field_number_constant(field: str) -> str:
    """The constant a `_pb2` class holds for a field's number: ``a`` -> ``A_FIELD_NUMBER``."""
    return field.upper() + "_FIELD_NUMBER"
