"""Request/reply over StateFun's one-way messages: pending calls, replies, timeouts.

A call sends the callee a call envelope (correlation id + request) and records the call
in the caller's hidden state. The callee's reply envelope, or the caller's own delayed
timeout message, completes it; whichever comes first wins and the other is dropped. A
join is one group of calls completed together. Correlation ids are ``<group>.<index>``,
with the group number taken from the caller's counter, so they are unique per caller.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NewType

from google.protobuf.message import DecodeError, Message

from sfidl.runtime.address import Address
from sfidl.runtime.errors import RpcError, Timeout
from sfidl.runtime.internal_pb2 import CallTimeout, PendingCall, PendingGroup
from sfidl.runtime.invocation import Invocation
from sfidl.runtime.spec import Continuation, Rpc
from sfidl.runtime.types import encode

log = logging.getLogger("sfidl.runtime")

CallId = NewType("CallId", str)
"""Identifies a call (or a join) in flight."""


def start(
    invocation: Invocation,
    continuation: str,
    requests: Sequence[tuple[Rpc[Any, Any], str, Message]],
    carried: Message | None,
    timeout: timedelta | None,
) -> CallId:
    """Send every request of one group and remember it until all are answered or time runs out."""
    if timeout is not None and timeout <= timedelta(0):
        raise ValueError(f"a call timeout must be positive, got {timeout}")
    # Check every request before sending any: a caught error leaves no call half-made.
    for rpc, target_id, request in requests:
        if not target_id:
            raise ValueError(f"the id of a {rpc.function} instance cannot be empty")
        if not isinstance(request, rpc.request):
            raise TypeError(
                f"{rpc.handler} takes a {rpc.request.DESCRIPTOR.full_name}, not {type(request).__name__}"
            )
    group = str(invocation.next_id())
    pending = PendingGroup(continuation=continuation)
    if carried is not None:
        pending.carried = encode(carried)
        pending.has_carried = True
    for index, (rpc, target_id, request) in enumerate(requests):
        envelope = rpc.call_envelope(correlation_id=f"{group}.{index}", request=request)
        invocation.send(Address(rpc.function, target_id), envelope)
        pending.calls.append(
            PendingCall(target_typename=rpc.function, target_id=target_id, request=encode(request))
        )
    if timeout is not None:
        pending.timeout_token = f"sfidl.timeout.{group}"
        pending.timeout_millis = timeout // timedelta(milliseconds=1)
        invocation.send_after(
            timeout, invocation.address, CallTimeout(group=group), pending.timeout_token
        )
    invocation.runtime.pending[group].CopyFrom(pending)
    return CallId(group)


@dataclass(frozen=True)
class Completion:
    """A group whose continuation can now run, with everything it receives."""

    continuation: Continuation
    outcomes: tuple[Any, ...]
    requests: tuple[Message, ...]
    carried: Message | None


def on_reply(
    invocation: Invocation,
    rpc: Rpc[Any, Any],
    envelope: Message,
    continuations: dict[str, Continuation],
) -> Completion | None:
    """Record a reply; the completion when it was the group's last one, else None.

    A reply nobody waits for (late after a timeout, duplicate, unknown correlation id,
    from another address than the one asked, or answering another rpc than the one
    called) is dropped and logged. A reply carrying neither a reply nor a declared error
    raises DecodeError: it could never complete its call.
    """
    _check_outcome(rpc, envelope)
    correlation: str = envelope.correlation_id  # type: ignore[attr-defined]
    group_id, _, index_text = correlation.partition(".")
    runtime = invocation.runtime
    group = runtime.pending.get(group_id)
    call = _call_of(group, index_text)
    caller = invocation.caller
    if (
        group is None
        or call is None
        or call.done
        or caller is None
        or (caller.typename, caller.id) != (call.target_typename, call.target_id)
        or _called_rpc(group, int(index_text), continuations) != rpc
    ):
        log.warning(
            "%s: dropped a reply from %s with correlation id %r: no call is waiting for it "
            "(late after a timeout, duplicate, or unknown)",
            invocation.address,
            caller or "an ingress",
            correlation,
        )
        return None
    call.reply = encode(envelope)
    call.done = True
    if not all(c.done for c in group.calls):
        return None
    return _complete(invocation, group_id, continuations)


def on_timeout(
    invocation: Invocation, timeout: CallTimeout, continuations: dict[str, Continuation]
) -> Completion | None:
    """End the wait of a group; None when it already completed (the timer lost the race)."""
    group = invocation.runtime.pending.get(timeout.group)
    if group is None:
        log.info("%s: call %s completed before its timeout", invocation.address, timeout.group)
        return None
    if group.continuation not in continuations:
        # Started by a version of the function that had this continuation: nothing can
        # receive the outcome now, and failing would retry the timeout forever.
        log.warning(
            "%s: dropped call %s: this function has no continuation %r any more",
            invocation.address,
            timeout.group,
            group.continuation,
        )
        del invocation.runtime.pending[timeout.group]
        return None
    return _complete(invocation, timeout.group, continuations)


def _check_outcome(rpc: Rpc[Any, Any], envelope: Message) -> None:
    which = envelope.WhichOneof("outcome")
    if which is None:
        raise DecodeError(
            f"a reply of {rpc.function}.{rpc.handler} carries neither a reply nor an error"
        )
    if which != "reply" and rpc.error_for(getattr(envelope, which)) is None:
        raise DecodeError(f"{rpc.function}.{rpc.handler} answered an undeclared error {which}")


def _call_of(group: PendingGroup | None, index_text: str) -> PendingCall | None:
    if group is None or not index_text.isdigit():
        return None
    index = int(index_text)
    return group.calls[index] if index < len(group.calls) else None


def _called_rpc(
    group: PendingGroup, index: int, continuations: dict[str, Continuation]
) -> Rpc[Any, Any] | None:
    """The rpc the group's ``index``-th call went to (None if this version does not know it)."""
    continuation = continuations.get(group.continuation)
    if continuation is None or index >= len(continuation.targets):
        return None
    return continuation.targets[index]


def _complete(
    invocation: Invocation, group_id: str, continuations: dict[str, Continuation]
) -> Completion:
    group = invocation.runtime.pending[group_id]
    continuation = continuations[group.continuation]
    if group.timeout_token and all(c.done for c in group.calls):
        invocation.cancel(group.timeout_token)
    outcomes = tuple(
        _outcome(rpc, call, group) for rpc, call in zip(continuation.targets, group.calls)
    )
    requests = tuple(
        rpc.request.FromString(call.request) for rpc, call in zip(continuation.targets, group.calls)
    )
    carried = None
    if continuation.carries is not None and group.has_carried:
        carried = continuation.carries.FromString(group.carried)
    del invocation.runtime.pending[group_id]
    return Completion(continuation, outcomes, requests, carried)


def _outcome(rpc: Rpc[Any, Any], call: PendingCall, group: PendingGroup) -> Any:
    if not call.done:
        return Timeout(after=timedelta(milliseconds=group.timeout_millis))
    # on_reply checked the outcome before recording the reply.
    envelope = rpc.reply_envelope.FromString(call.reply)
    which = envelope.WhichOneof("outcome")
    value = getattr(envelope, which)
    if which == "reply":
        return value
    error = rpc.error_for(value)
    assert error is not None
    return error(value)


def reply_envelope(
    rpc: Rpc[Any, Any], correlation_id: str, outcome: Message | RpcError[Any]
) -> Message:
    """The envelope answering a call with a reply or a declared error."""
    envelope = rpc.reply_envelope(correlation_id=correlation_id)
    if isinstance(outcome, RpcError):
        detail = outcome.detail
        name = detail.DESCRIPTOR.full_name
        field = next(
            f
            for f in envelope.DESCRIPTOR.oneofs_by_name["outcome"].fields
            if f.message_type is not None and f.message_type.full_name == name
        )
        getattr(envelope, field.name).CopyFrom(detail)
    else:
        envelope.reply.CopyFrom(outcome)  # type: ignore[attr-defined]
    return envelope
