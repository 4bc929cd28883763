"""What a compiled application declares about its deployment, as runtime data.

The generated ``<name>_sfidl.py`` builds one :class:`Manifest`; the local runtime and the
test harness read it to route ingress records and decode egress records without ever
importing the compiler.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from google.protobuf.message import Message

from sfidl.wire import IoKind as IoKind
from sfidl.wire import message_typename


@dataclass(frozen=True)
class IngressManifest:
    """Records of ``source`` (a topic or stream), delivered to ``target`` with the record key as id."""

    typename: str  # the ingress id, ``com.example.shop/add_to_cart``
    kind: IoKind
    source: str
    target: str  # function typename
    message: type[Message]  # the target handler's request type

    @property
    def value_typename(self) -> str:
        return message_typename(self.message.DESCRIPTOR.full_name)


@dataclass(frozen=True)
class EgressManifest:
    """An egress and the message type its records carry (sfidl's DeadLetter for a dead-letter egress)."""

    typename: str  # the egress id, ``com.example.shop/receipts``
    kind: IoKind
    sink: str  # the topic or stream
    message: type[Message]
    dead_letters: bool = False


@dataclass(frozen=True)
class Manifest:
    namespace: str
    functions: tuple[str, ...]  # function typenames
    ingresses: tuple[IngressManifest, ...] = ()
    egresses: tuple[EgressManifest, ...] = ()
    endpoint: str | None = None

    def egress(self, typename: str) -> EgressManifest | None:
        return self._egress_by_typename.get(typename)

    @cached_property
    def _egress_by_typename(self) -> dict[str, EgressManifest]:
        # Asked for every egress record a function writes.
        return {e.typename: e for e in self.egresses}
