"""The wire vocabulary: how StateFun names, types and frames what sfidl exchanges.

One definition, shared by the compiler, the runtime library (``sfidl.runtime``), the local
runtime (``sfidl.local``) and the tests. It imports only the standard library, so the
compiler reads it without loading the StateFun SDK or aiohttp. The facts behind each
name are in docs/statefun.md, which cites StateFun's sources.

"Typename" names three things on the wire (docs/statefun.md#typenames):

- a function type, ``namespace/name`` (``com.example.shop/inventory``); ingresses and
  egresses are named the same way;
- a message type, ``type.googleapis.com/`` and the protobuf full name
  (``type.googleapis.com/com.example.shop.Reserve``): :func:`message_typename`;
- the proto3 JSON form of a message type: the message typename and ``+json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, NamedTuple

# StateFun's typename prefix for protobuf messages (statefun.make_protobuf_type's default).
PROTOBUF_TYPENAME_PREFIX = "type.googleapis.com/"

# Appended to a message's typename, it names the same message in the proto3 JSON mapping.
JSON_SUFFIX = "+json"

# The Content-Type of StateFun's request-reply bodies, both ways (docs/statefun.md#http).
OCTET_STREAM = "application/octet-stream"


def is_typename(text: str) -> bool:
    """What StateFun's ``TypeName.parseFrom`` accepts: exactly one ``/``, both parts non-empty.

    (The SDK splits at the last ``/`` and so accepts ``a/b/c``, which the runtime cannot bind.)
    """
    namespace, slash, name = text.partition("/")
    return bool(slash and namespace and name and "/" not in name)


def message_typename(full_name: str) -> str:
    """The typename of the protobuf message ``full_name``: ``type.googleapis.com/<full_name>``."""
    return PROTOBUF_TYPENAME_PREFIX + full_name


@dataclass(frozen=True)
class StateScalar:
    """A scalar a state can hold: one of the Python SDK's built-in types."""

    typename: str  # the type the state is registered with: fixed for the state's lifetime
    python: str  # the Python type of its values
    constant: str  # the ``sfidl.runtime`` constant holding the SDK's type (``sf.INT32``)


# The proto3 scalars a state can hold, exactly those with a built-in type in the Python SDK
# (statefun/wrapper_types.py); tests/test_wire.py checks them against the SDK.
STATE_SCALARS: dict[str, StateScalar] = {
    "int32": StateScalar("io.statefun.types/int", "int", "INT32"),
    "int64": StateScalar("io.statefun.types/long", "int", "INT64"),
    "bool": StateScalar("io.statefun.types/bool", "bool", "BOOL"),
    "float": StateScalar("io.statefun.types/float", "float", "FLOAT"),
    "double": StateScalar("io.statefun.types/double", "float", "DOUBLE"),
    "string": StateScalar("io.statefun.types/string", "str", "STRING"),
}


class ExpireMode(Enum):
    """When a state's time to live restarts, by the numbers of the request-reply protocol's
    ``ExpirationSpec.ExpireMode`` (docs/statefun.md#state-expiry).

    ``AFTER_CALL`` is the protocol's ``AFTER_INVOKE``, spelt as the language
    (``expire after call``) and the SDK (``expire_after_call``) spell it.
    """

    NONE = 0
    AFTER_WRITE = 1
    AFTER_CALL = 2


class IoKind(Enum):
    """The systems an ingress reads and an egress writes (docs/statefun.md#ingress)."""

    KAFKA = "kafka"
    KINESIS = "kinesis"


class Address(NamedTuple):
    """A function instance: its type (``namespace/type``) and id.

    A named tuple: hashed and compared in C (the local runtime keys its queues by address,
    tens of thousands of times a second; a dataclass's generated ``__hash__`` and ``__eq__``
    are Python calls).
    """

    namespace: str
    type: str
    id: str

    @property
    def typename(self) -> str:
        """The function type: ``namespace/type``."""
        return f"{self.namespace}/{self.type}"

    @classmethod
    def of(cls, typename: str, id: str) -> Address:
        """The address of ``id`` of the function type ``typename`` (``namespace/type``)."""
        namespace, _, type_ = typename.rpartition("/")
        return cls(namespace, type_, id)

    @classmethod
    def from_sdk(cls, address: Any) -> Address | None:
        """From the SDK's ``SdkAddress`` (or None, for a message from an ingress)."""
        if address is None:
            return None
        return cls(address.namespace, address.name, address.id)

    def __str__(self) -> str:
        return f"{self.namespace}/{self.type}/{self.id}"
