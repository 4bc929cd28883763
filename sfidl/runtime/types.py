"""StateFun types for what sfidl puts on the wire: protobuf messages and the SDK's scalars."""

from __future__ import annotations

from typing import Any

import statefun
from google.protobuf.message import Message

PROTOBUF_TYPENAME_PREFIX = "type.googleapis.com/"

# The SDK's built-in scalar types, by the proto scalar a state of that type is declared with.
INT32: Any = statefun.IntType
INT64: Any = statefun.LongType
BOOL: Any = statefun.BoolType
FLOAT: Any = statefun.FloatType
DOUBLE: Any = statefun.DoubleType
STRING: Any = statefun.StringType


def typename_of(cls: type[Message]) -> str:
    """The typename the SDK gives messages of ``cls`` (``statefun.make_protobuf_type``)."""
    return PROTOBUF_TYPENAME_PREFIX + cls.DESCRIPTOR.full_name


_protobuf_types: dict[type[Message], Any] = {}


def protobuf_type(cls: type[Message]) -> Any:
    """The SDK ``Type`` of a protobuf message class, made once per class."""
    made = _protobuf_types.get(cls)
    if made is None:
        made = _protobuf_types[cls] = statefun.make_protobuf_type(cls)
    return made


def encode(message: Message) -> bytes:
    """Deterministic bytes (map order fixed), so equal values compare equal."""
    return message.SerializeToString(deterministic=True)
