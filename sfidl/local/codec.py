"""Typenames to values and back: SDK scalars, protobuf messages (by full name), opaque bytes."""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.message import DecodeError, Message

from sfidl.runtime.types import SCALAR_TYPES
from sfidl.wire import PROTOBUF_TYPENAME_PREFIX

# The SDK's built-in scalar types: each value is its wrapper message (value in field 1).
SCALAR_WRAPPERS: dict[str, type[Message]] = {
    typename: sdk_type.wrapper for typename, sdk_type in SCALAR_TYPES.items()
}


class CodecError(ValueError):
    """A value that does not match its typename."""


def message_class(typename: str) -> type[Message] | None:
    """The protobuf class of a ``type.googleapis.com/<full name>`` typename, from the default pool.

    The application's ``_pb2`` modules register their messages there when imported.
    """
    if typename in SCALAR_WRAPPERS:
        return SCALAR_WRAPPERS[typename]
    if not typename.startswith(PROTOBUF_TYPENAME_PREFIX):
        return None
    try:
        descriptor = descriptor_pool.Default().FindMessageTypeByName(
            typename[len(PROTOBUF_TYPENAME_PREFIX) :]
        )
    except KeyError:
        return None
    return message_factory.GetMessageClass(descriptor)


def is_known(typename: str) -> bool:
    """Whether bytes of ``typename`` can be checked: an SDK scalar or a protobuf message in the pool."""
    return message_class(typename) is not None


def decode(typename: str, data: bytes) -> object:
    """A scalar for SDK scalar types, a message for protobuf types, else the bytes as they are."""
    cls = message_class(typename)
    if cls is None:
        return data
    message = parse(cls, data)
    if typename in SCALAR_WRAPPERS:
        value: object = getattr(message, "value")
        return value
    return message


def parse(cls: type[Message], data: bytes) -> Message:
    message = cls()
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise CodecError(f"not a valid {cls.DESCRIPTOR.full_name}: {exc}") from None
    return message


def check(typename: str, data: bytes) -> None:
    """Raise :class:`CodecError` when ``data`` is not a value of a known ``typename``."""
    cls = message_class(typename)
    if cls is not None:
        parse(cls, data)


def from_json(typename: str, value: Any) -> bytes:
    """The bytes of ``value`` (parsed JSON) as a ``typename``.

    Protobuf messages use the proto3 JSON mapping, SDK scalars take the bare scalar, and any
    other typename (``make_json_type``) takes the JSON text itself.
    """
    cls = message_class(typename)
    if cls is None:
        return json.dumps(value, ensure_ascii=False).encode("utf-8")
    if typename in SCALAR_WRAPPERS:
        value = {"value": value}
    try:
        message = json_format.ParseDict(value, cls())
    except (json_format.ParseError, TypeError, ValueError) as exc:
        raise CodecError(f"not a valid {cls.DESCRIPTOR.full_name}: {exc}") from None
    return message.SerializeToString(deterministic=True)


def to_json(value: object) -> Any:
    """A JSON-ready form of a decoded value (messages by the proto3 JSON mapping, bytes as base64)."""
    if isinstance(value, Message):
        return json_format.MessageToDict(value, preserving_proto_field_name=True)
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode("ascii")}
    return value
