"""A test driver speaking StateFun's request/reply protocol to an application, as the cluster would.

It builds real ``ToFunction`` bytes, answers the missing-state handshake the way the
runtime does (register, retry the same batch), keeps each address's state between
invocations, and hands back the decoded ``FromFunction`` so tests can assert on
exactly what the application put on the wire. No scheduling: each call is one batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message
from statefun.request_reply_pb2 import FromFunction, ToFunction, TypedValue

from sfidl.wire import PROTOBUF_TYPENAME_PREFIX as PROTOBUF_PREFIX

Response = FromFunction.InvocationResponse


def typed(message: Message) -> TypedValue:
    return TypedValue(
        typename=PROTOBUF_PREFIX + message.DESCRIPTOR.full_name,
        has_value=True,
        value=message.SerializeToString(),
    )


@dataclass(frozen=True)
class Envelope:
    """One message of a batch: its value and who sent it (None for an ingress)."""

    value: TypedValue
    caller: tuple[str, str] | None = None  # (function typename, id)


@dataclass
class Driver:
    app: Any  # anything with handle_sync(bytes) -> bytes
    registered: dict[str, dict[str, FromFunction.PersistedValueSpec]] = field(default_factory=dict)
    state: dict[tuple[str, str], dict[str, TypedValue]] = field(default_factory=dict)
    handshakes: list[FromFunction.IncompleteInvocationContext] = field(default_factory=list)

    def invoke(
        self,
        typename: str,
        id: str,
        *messages: Message | Envelope,
        caller: tuple[str, str] | None = None,
    ) -> Response:
        """Deliver ``messages`` as one batch; the response's effects are applied to the state."""
        batch = [m if isinstance(m, Envelope) else Envelope(typed(m), caller) for m in messages]
        while True:
            response = FromFunction.FromString(self.app.handle_sync(self.request(typename, id, batch)))
            if response.HasField("incomplete_invocation_context"):
                context = response.incomplete_invocation_context
                self.handshakes.append(context)
                specs = self.registered.setdefault(typename, {})
                # Each handshake must ask for a state not sent yet, so the loop ends.
                asked = {spec.state_name for spec in context.missing_values}
                assert asked - specs.keys(), f"asked again for states it was sent: {asked}"
                for spec in context.missing_values:
                    specs[spec.state_name] = spec
                continue
            result = response.invocation_result
            self.apply(typename, id, result)
            return result

    def request(self, typename: str, id: str, batch: Sequence[Envelope]) -> bytes:
        namespace, type_ = typename.split("/")
        message = ToFunction()
        invocation = message.invocation
        invocation.target.namespace, invocation.target.type, invocation.target.id = namespace, type_, id
        values = self.state.get((typename, id), {})
        for name in self.registered.get(typename, {}):
            persisted = invocation.state.add(state_name=name)
            if name in values:
                persisted.state_value.CopyFrom(values[name])
        for envelope in batch:
            entry = invocation.invocations.add()
            entry.argument.CopyFrom(envelope.value)
            if envelope.caller is not None:
                caller_type, caller_id = envelope.caller
                ns, tp = caller_type.split("/")
                entry.caller.namespace, entry.caller.type, entry.caller.id = ns, tp, caller_id
        return message.SerializeToString()

    def apply(self, typename: str, id: str, result: Response) -> None:
        values = self.state.setdefault((typename, id), {})
        for mutation in result.state_mutations:
            if mutation.mutation_type == FromFunction.PersistedValueMutation.MODIFY:
                values[mutation.state_name] = mutation.state_value
            else:
                values.pop(mutation.state_name, None)


def decode(value: TypedValue, cls: type[Message]) -> Any:
    """The message in ``value``, checking its typename first."""
    assert value.typename == PROTOBUF_PREFIX + cls.DESCRIPTOR.full_name, value.typename
    return cls.FromString(value.value)


def outgoing(result: Response) -> list[tuple[str, str, TypedValue]]:
    """(target typename, id, argument) of every message the response sends."""
    return [
        (f"{m.target.namespace}/{m.target.type}", m.target.id, m.argument)
        for m in result.outgoing_messages
    ]


def forward(result: Response, index: int = 0, *, sender: tuple[str, str]) -> Envelope:
    """The ``index``-th outgoing message of a response, as the runtime would deliver it."""
    return Envelope(result.outgoing_messages[index].argument, sender)
