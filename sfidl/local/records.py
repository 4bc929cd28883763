"""Plain values the local runtime hands to its users: addresses, deliveries, egress records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from google.protobuf.message import Message

# One address for the runtime library and the local runtime; users of the local runtime find
# it here, with the records that carry it.
from sfidl.wire import Address as Address


@dataclass(frozen=True)
class Delivery:
    """One message the runtime delivered to a function (its invocation committed)."""

    target: Address
    caller: Address | None  # None for ingress messages
    typename: str
    value: object  # decoded: a protobuf message, a scalar, or the raw bytes


@dataclass(frozen=True)
class EgressRecord:
    """One record written to an egress, decoded with the egress's message class."""

    egress: str  # the egress typename
    topic: str  # the Kafka topic or Kinesis stream
    key: str  # the Kafka key or Kinesis partition key
    value: Message


@dataclass(frozen=True)
class Faulted:
    """A message between functions that an injected fault dropped or delivered late."""

    action: Literal["dropped", "delayed"]
    target: Address
    caller: Address  # the function that sent it
    typename: str
    value: object  # decoded: a protobuf message, a scalar, or the raw bytes
    at: datetime  # when it was sent
    delay: timedelta  # how late it is delivered; zero when dropped
