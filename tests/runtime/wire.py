"""Reading what the test program put on the wire: addresses, envelopes, hidden state."""

from __future__ import annotations

from typing import Any

from google.protobuf.message import Message
from statefun.request_reply_pb2 import FromFunction

from sfidl.runtime.internal_pb2 import RuntimeState
from tests.protocol import PROTOBUF_PREFIX, Driver, Response, decode

STORE = "test.calls/store"
OTHER = "test.calls/other"
CLIENT = "test.calls/client"
FANNER = "test.calls/fanner"
VAULT = "test.calls/vault"
RELAY = "test.calls/relay"
DESK = "test.calls/desk"
RUNTIME_STATE = "sfidl_runtime"


def typename(cls: type[Message]) -> str:
    return PROTOBUF_PREFIX + cls.DESCRIPTOR.full_name


def sent(result: Response, cls: type[Message], index: int = 0) -> tuple[str, str, Any]:
    """(target typename, id, decoded message) of the ``index``-th outgoing message."""
    message = result.outgoing_messages[index]
    target = f"{message.target.namespace}/{message.target.type}"
    return target, message.target.id, decode(message.argument, cls)


def hidden(driver: Driver, function: str, id: str) -> RuntimeState:
    """The hidden ``sfidl_runtime`` state of one instance as the driver keeps it."""
    value = driver.state.get((function, id), {}).get(RUNTIME_STATE)
    return RuntimeState() if value is None else decode(value, RuntimeState)


def mutation(result: Response, name: str) -> FromFunction.PersistedValueMutation:
    """The one mutation of state ``name`` in ``result``."""
    (found,) = [m for m in result.state_mutations if m.state_name == name]
    return found


def delayed(result: Response) -> list[FromFunction.DelayedInvocation]:
    return list(result.delayed_invocations)
