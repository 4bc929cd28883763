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

from sfidl.runtime.errors import RpcError, Timeout
from sfidl.runtime.internal_pb2 import CallTimeout, PendingCall, PendingGroup
from sfidl.runtime.invocation import Invocation
from sfidl.runtime.spec import Continuation, Rpc
from sfidl.runtime.types import encode
from sfidl.wire import Address

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
    """Send every request of one group and remember it until all are answered or time runs out.

    Each call envelope carries the caller's deadline (epoch ms by the deployment's clock;
    0 without a timeout), so the callee can see it and forget a deferred reply after it.
    """
    invocation.require("calls", continuation)
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
    pending = invocation.changing().pending[group]
    pending.continuation = continuation
    if carried is not None:
        pending.carried = encode(carried)
        pending.has_carried = True
    deadline = 0
    if timeout is not None:
        deadline = invocation.now_ms() + timeout // timedelta(milliseconds=1)
    for index, (rpc, target_id, request) in enumerate(requests):
        envelope = rpc.call_envelope(
            correlation_id=f"{group}.{index}", request=request, deadline_millis=deadline
        )
        invocation.send(Address.of(rpc.function, target_id), envelope)
        pending.calls.add(
            target_typename=rpc.function,
            target_id=target_id,
            handler=rpc.handler,
            request=encode(request),
        )
    if timeout is not None:
        pending.timeout_token = f"sfidl.timeout.{group}"
        pending.timeout_millis = timeout // timedelta(milliseconds=1)
        invocation.send_after(
            timeout, invocation.address, CallTimeout(group=group), pending.timeout_token
        )
    return CallId(group)


@dataclass(frozen=True)
class Completion:
    """A group whose continuation can now run, with everything it receives."""

    continuation: Continuation
    outcomes: tuple[Any, ...]
    requests: tuple[Message, ...]
    carried: Message | None


def outcome_problem(rpc: Rpc[Any, Any], envelope: Message) -> str | None:
    """Why a reply envelope of ``rpc`` could never complete its call; None when it can."""
    which = envelope.WhichOneof("outcome")
    if which is None:
        return f"a reply of {rpc.function}.{rpc.handler} carries neither a reply nor an error"
    if which != "reply" and rpc.error_for(getattr(envelope, which)) is None:
        return f"{rpc.function}.{rpc.handler} answered an undeclared error {which}"
    return None


def on_reply(
    invocation: Invocation,
    rpc: Rpc[Any, Any],
    envelope: Message,
    continuations: dict[str, Continuation],
) -> Completion | None:
    """Record a reply (checked by :func:`outcome_problem`); the completion if it was the last one.

    A reply nobody waits for (late after a timeout, duplicate, unknown correlation id,
    from another address than the one asked, or answering another rpc than the one
    called) is dropped and logged.
    """
    correlation: str = envelope.correlation_id  # type: ignore[attr-defined]
    group_id, _, index_text = correlation.partition(".")
    index = _index(index_text)
    continuation = None
    if group_id in invocation.runtime.pending:
        continuation = _continuation(invocation, group_id, continuations)
    if (
        continuation is None
        or index is None
        or not _awaits(invocation, group_id, index, rpc, continuation)
    ):
        log.warning(
            "%s: dropped a reply from %s with correlation id %r: no call is waiting for it "
            "(late after a timeout, duplicate, or unknown)",
            invocation.address,
            invocation.caller or "an ingress",
            correlation,
        )
        return None
    group = invocation.changing().pending[group_id]
    call = group.calls[index]
    call.reply = encode(envelope)
    call.done = True
    if not all(c.done for c in group.calls):
        return None
    return _complete(invocation, group_id, continuation)


def on_timeout(
    invocation: Invocation, timeout: CallTimeout, continuations: dict[str, Continuation]
) -> Completion | None:
    """End the wait of a group; None when it already completed (the timer lost the race)."""
    if timeout.group not in invocation.runtime.pending:
        log.info("%s: call %s completed before its timeout", invocation.address, timeout.group)
        return None
    continuation = _continuation(invocation, timeout.group, continuations, timed_out=True)
    if continuation is None:
        return None
    return _complete(invocation, timeout.group, continuation, timed_out=True)


def _index(text: str) -> int | None:
    """The call index of a correlation id (``<group>.<index>``); None unless ASCII digits."""
    return int(text) if text.isascii() and text.isdigit() else None


def _awaits(
    invocation: Invocation,
    group_id: str,
    index: int,
    rpc: Rpc[Any, Any],
    continuation: Continuation,
) -> bool:
    """Whether call ``index`` of the group still waits for a reply of ``rpc`` from the caller."""
    calls = invocation.runtime.pending[group_id].calls
    if index >= len(calls):
        return False
    call = calls[index]
    return (
        not call.done
        and invocation.caller == Address.of(call.target_typename, call.target_id)
        and continuation.targets[index] == rpc
    )


def _continuation(
    invocation: Invocation,
    group_id: str,
    continuations: dict[str, Continuation],
    *,
    timed_out: bool = False,
) -> Continuation | None:
    """The continuation of a pending group, or None after dropping a group it cannot take.

    A group recorded by an earlier version of the function (a redeploy since) whose
    continuation is gone or now expects other calls can never complete: it is dropped
    once, rather than failing every retry or handing the outcomes to the wrong method.
    """
    group = invocation.runtime.pending[group_id]
    continuation = continuations.get(group.continuation)
    if continuation is None:
        reason = f"this function has no continuation {group.continuation!r} any more"
    elif len(continuation.targets) != len(group.calls) or any(
        # Calls recorded before PendingCall.handler existed have it empty.
        rpc.function != call.target_typename or call.handler not in ("", rpc.handler)
        for rpc, call in zip(continuation.targets, group.calls)
    ):
        reason = f"its continuation {continuation.name!r} now expects other calls"
    else:
        return continuation
    _drop(invocation, group_id, reason, timed_out)
    return None


def _drop(invocation: Invocation, group_id: str, reason: str, timed_out: bool) -> None:
    group = invocation.changing().pending.pop(group_id)
    log.warning("%s: dropped call %s: %s", invocation.address, group_id, reason)
    if group.timeout_token and not timed_out:
        invocation.cancel(group.timeout_token)


def _complete(
    invocation: Invocation, group_id: str, continuation: Continuation, *, timed_out: bool = False
) -> Completion | None:
    group = invocation.runtime.pending[group_id]
    try:
        outcomes = tuple(
            _outcome(rpc, call, group) for rpc, call in zip(continuation.targets, group.calls)
        )
        requests = tuple(
            rpc.request.FromString(call.request)
            for rpc, call in zip(continuation.targets, group.calls)
        )
        carried = None
        if continuation.carries is not None and group.has_carried:
            carried = continuation.carries.FromString(group.carried)
    except DecodeError as error:
        _drop(invocation, group_id, f"what it recorded no longer decodes: {error}", timed_out)
        return None
    del invocation.changing().pending[group_id]
    if group.timeout_token and not timed_out:
        invocation.cancel(group.timeout_token)
    return Completion(continuation, outcomes, requests, carried)


def _outcome(rpc: Rpc[Any, Any], call: PendingCall, group: PendingGroup) -> Any:
    if not call.done:
        return Timeout(after=timedelta(milliseconds=group.timeout_millis))
    envelope = rpc.reply_envelope.FromString(call.reply)
    problem = outcome_problem(rpc, envelope)
    if problem is not None:  # checked when it came: the types changed since
        raise DecodeError(problem)
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
