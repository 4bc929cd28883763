"""``ToFunction`` request bytes written directly from the stored bytes.

A batch's invocations carry arguments that are already serialized ``TypedValue`` messages
(as queued); building protobuf objects only to serialize them again parsed and copied every
argument once more per request. The protobuf wire format of a message is the
concatenation of its fields, each a key, a length and the field's bytes, so the request is
assembled from the stored bytes as they are: byte for byte what ``SerializeToString`` of
the same ``ToFunction`` gives (fields in number order, proto3 defaults left out).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from sfidl.local.records import Address
from sfidl.local.store import Queued

# Keys (field number << 3 | 2, length-delimited) of the fields written here.
_FIELD_1 = b"\x0a"
_FIELD_2 = b"\x12"
_FIELD_3 = b"\x1a"
_HAS_VALUE = b"\x10\x01"  # TypedValue.has_value = true (a varint field)
_INVOCATION = b"\xa2\x06"  # ToFunction.invocation, field 100


def _encode_varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_ONE_BYTE = tuple(bytes((n,)) for n in range(0x80))


def _varint(n: int) -> bytes:
    if n < 0x80:
        return _ONE_BYTE[n]
    if n < 0x4000:
        return bytes((n & 0x7F | 0x80, n >> 7))
    return _encode_varint(n)


def _field(key: bytes, data: bytes) -> bytes:
    return key + _varint(len(data)) + data


def _string(key: bytes, text: str) -> bytes:
    """A string field; nothing when empty (proto3 leaves defaults out)."""
    return _field(key, text.encode()) if text else b""


@lru_cache(maxsize=4096)  # the same targets and callers, batch after batch
def _address(address: Address) -> bytes:
    """An ``Address`` message."""
    return (
        _string(_FIELD_1, address.namespace)
        + _string(_FIELD_2, address.type)
        + _string(_FIELD_3, address.id)
    )


@lru_cache(maxsize=4096)
def _caller(caller: Address) -> bytes:
    """``Invocation.caller`` (field 1), key and length included."""
    return _field(_FIELD_1, _address(caller))


# The same callers send arguments of the same few sizes, batch after batch; a miss costs
# what building the framing inline would.
@lru_cache(maxsize=16384)
def _framing(caller: Address | None, size: int) -> bytes:
    """What comes before an argument of ``size`` bytes in ``Invocation``s: the invocation's key
    and length (field 3 of ``InvocationBatchRequest``), its caller if any, the argument's key
    and length (field 2)."""
    head = (b"" if caller is None else _caller(caller)) + _FIELD_2 + _varint(size)
    return _FIELD_3 + _varint(len(head) + size) + head


@lru_cache(maxsize=4096)
def _state_name(name: str) -> bytes:
    """``PersistedValue.state_name`` (field 1)."""
    return _string(_FIELD_1, name)


@lru_cache(maxsize=4096)
def _value_head(typename: str) -> bytes:
    """A ``TypedValue``'s typename (field 1) and ``has_value``: what precedes its value."""
    return _string(_FIELD_1, typename) + _HAS_VALUE


def _state(name: str, value: tuple[str, bytes] | None) -> bytes:
    """``ToFunction.InvocationBatchRequest.state`` (field 2), key and length included: the
    state's name, and its value when there is one."""
    data = _state_name(name)
    if value is not None:
        typename, stored = value
        typed = _value_head(typename) + (_field(_FIELD_3, stored) if stored else b"")
        data += _field(_FIELD_2, typed)
    return _field(_FIELD_2, data)


def build_request(
    target: Address,
    states: Iterable[str],
    values: Mapping[str, tuple[str, bytes]],
    batch: Sequence[Queued],
) -> bytes:
    """``ToFunction`` bytes: every registered state in ``states`` (unset when absent from
    ``values``) and the batch's invocations, their arguments the queued bytes as they are."""
    parts = [_field(_FIELD_1, _address(target))]
    for name in states:
        parts.append(_state(name, values.get(name)))
    append, framing = parts.append, _framing  # per message: two appends and a cached framing
    for _, _, caller, argument, _ in batch:
        append(framing(caller, len(argument)))
        append(argument)
    body = b"".join(parts)
    return _INVOCATION + _varint(len(body)) + body
