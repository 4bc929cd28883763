"""StateFun types for what sfidl puts on the wire: protobuf messages and the SDK's scalars.

The names and forms themselves live in :mod:`sfidl.wire` (no SDK import); this module binds
them to the SDK's objects.
"""

from __future__ import annotations

from typing import Any

import statefun
from google.protobuf.message import Message
from statefun.request_reply_pb2 import TypedValue

from sfidl.wire import JSON_SUFFIX, message_typename

# The SDK's built-in scalar types, named as sfidl.wire.STATE_SCALARS' ``constant`` says.
INT32: Any = statefun.IntType
INT64: Any = statefun.LongType
BOOL: Any = statefun.BoolType
FLOAT: Any = statefun.FloatType
DOUBLE: Any = statefun.DoubleType
STRING: Any = statefun.StringType

# The same types by their typename; each carries its wrapper message class (``wrapper``).
SCALAR_TYPES: dict[str, Any] = {t.typename: t for t in (INT32, INT64, BOOL, FLOAT, DOUBLE, STRING)}


# Per message class, made once: both are asked for every message sent.
_typenames: dict[type[Message], str] = {}
_protobuf_types: dict[type[Message], Any] = {}


def typename_of(cls: type[Message]) -> str:
    """The typename the SDK gives messages of ``cls`` (``statefun.make_protobuf_type``)."""
    typename = _typenames.get(cls)
    if typename is None:
        typename = _typenames[cls] = message_typename(cls.DESCRIPTOR.full_name)
    return typename


def json_typename(cls: type[Message]) -> str:
    """The typename of ``cls``'s proto3 JSON form: ``type.googleapis.com/<full name>+json``.

    A one-way handler takes its request under this typename too, so a client with no
    protobuf at hand (``curl`` against the StateFun playground image, whose ingress passes
    the body through untouched) can send JSON.
    """
    return typename_of(cls) + JSON_SUFFIX


def protobuf_type(cls: type[Message]) -> Any:
    """The SDK ``Type`` of a protobuf message class."""
    made = _protobuf_types.get(cls)
    if made is None:
        made = _protobuf_types[cls] = statefun.make_protobuf_type(cls)
    return made


def typed_value(typename: str, data: bytes) -> TypedValue:
    """``data``, a serialized value of ``typename``, as the protocol carries it."""
    return TypedValue(typename=typename, has_value=True, value=data)


def typed_message(message: Message) -> TypedValue:
    """``message`` on the wire, exactly as ``protobuf_type(type(message))`` would serialize it."""
    # typename_of and typed_value, inline: this runs for every message sent.
    typename = _typenames.get(type(message)) or typename_of(type(message))
    return TypedValue(typename=typename, has_value=True, value=message.SerializeToString())


def encode(message: Message) -> bytes:
    """Deterministic bytes (map order fixed), so equal values compare equal.

    Only for bytes that are compared. What is only ever decoded again (a call's request
    and carried value and a join's early reply in the hidden state, a timer's payload)
    is serialized as the SDK serializes messages: a fixed map order costs about twice as
    much (2.4 vs 1.2 µs for a one-field request).
    """
    return message.SerializeToString(deterministic=True)
