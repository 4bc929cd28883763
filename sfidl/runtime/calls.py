"""Request/reply over StateFun's one-way messages: pending calls, replies, timeouts.

A call sends the callee a call envelope (correlation id + request) and records the call
in the caller's hidden state. The callee's reply envelope, or the caller's own delayed
timeout message, completes it; whichever comes first wins and the other is dropped. A
join is one group of calls completed together. Correlation ids are ``<group>.<index>``,
with the group number taken from the caller's counter, so they are unique per caller.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NewType, TypeVar

import statefun
from google.protobuf.message import DecodeError, Message
from statefun.request_reply_pb2 import TypedValue

from sfidl.runtime.errors import RpcError, Timeout
from sfidl.runtime.internal_pb2 import CallTimeout, PendingCall, PendingGroup
from sfidl.runtime.invocation import Invocation, keeps_runtime_state
from sfidl.runtime.spec import Continuation, Rpc
from sfidl.runtime.types import typename_of

log = logging.getLogger("sfidl.runtime")

T = TypeVar("T")
U = TypeVar("U")

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
    if continuation not in invocation.effects.calls:
        invocation.require("calls", continuation)  # raises, saying what is undeclared
    if timeout is not None and timeout <= _ZERO:
        raise _not_positive(timeout)
    # Check every request before sending any: a caught error leaves no call half-made.
    for rpc, target_id, request in requests:
        if not target_id:
            raise ValueError(f"the id of a {rpc.function} instance cannot be empty")
        if not isinstance(request, rpc.request):
            raise _wrong_request(rpc, request)
    runtime = invocation.changing()
    group = str(runtime.next_id)
    runtime.next_id += 1
    pending = runtime.pending[group]
    pending.continuation = continuation
    if carried is not None:
        pending.carried = carried.SerializeToString()
        pending.has_carried = True
    deadline = timeout_millis = 0
    if timeout is not None:
        timeout_millis = timeout // _MILLISECOND
        deadline = invocation.deployment.now_ms() + timeout_millis
    for index, (rpc, target_id, request) in enumerate(requests):
        envelope = rpc.call_envelope(
            correlation_id=f"{group}.{index}", request=request, deadline_millis=deadline
        )
        invocation.send(rpc.function, target_id, envelope)
        pending.calls.add(
            target_typename=rpc.function,
            target_id=target_id,
            handler=rpc.handler,
            request=request.SerializeToString(),
        )
    if timeout is not None:
        token = pending.timeout_token = _TIMEOUT_TOKEN + group
        pending.timeout_millis = timeout_millis
        invocation.send_self_after(timeout, CallTimeout(group=group), token)
    return CallId(group)


def call(
    invocation: Invocation,
    continuation: str,
    rpc: Rpc[Any, Any],
    target_id: str,
    request: Message,
    carried: Message | None,
    timeout: timedelta | None,
) -> CallId:
    """:func:`start` for a group of one call to a non-empty ``target_id``, in one pass:
    what ``ctx.functions.<function>(id).<rpc>(...)`` does.

    The same steps as :func:`start` (and its errors, made by the same helpers), written
    out for the one call: sharing more through helper calls costs 10 bytecodes or more
    on every call, which the deferred reply's 1.1x of the hand-written version does not
    leave.
    """
    if continuation not in invocation.effects.calls:
        invocation.require("calls", continuation)  # raises, saying what is undeclared
    if timeout is not None and timeout <= _ZERO:
        raise _not_positive(timeout)
    if type(request) is not rpc.request and not isinstance(request, rpc.request):
        raise _wrong_request(rpc, request)
    runtime = invocation.runtime
    invocation.runtime_changed = True
    group = str(runtime.next_id)
    runtime.next_id += 1
    pending = runtime.pending[group]
    pending.continuation = continuation
    if carried is not None:
        pending.carried = carried.SerializeToString()
        pending.has_carried = True
    deadline = timeout_millis = 0
    if timeout is not None:
        timeout_millis = timeout // _MILLISECOND
        deadline = invocation.deployment.now_ms() + timeout_millis
    envelope = rpc.call_envelope(
        correlation_id=group + ".0", request=request, deadline_millis=deadline
    )
    sdk = invocation.sdk
    # Invocation.send and send_self_after, inline: this runs for every call.
    sdk.send(
        statefun.Message(
            rpc.function,
            target_id,
            TypedValue(
                typename=rpc.call_typename, has_value=True, value=envelope.SerializeToString()
            ),
        )
    )
    pending.calls.add(
        target_typename=rpc.function,
        target_id=target_id,
        handler=rpc.handler,
        request=request.SerializeToString(),
    )
    if timeout is not None:
        token = pending.timeout_token = _TIMEOUT_TOKEN + group
        pending.timeout_millis = timeout_millis
        here = sdk.address
        value = CallTimeout(group=group).SerializeToString()
        sdk.send_after(
            timeout,
            statefun.Message(
                here.typename,
                here.id,
                TypedValue(typename=_CALL_TIMEOUT, has_value=True, value=value),
            ),
            token,
        )
    return CallId(group)


# A call timeout's cancellation token is this prefix and its group, unique per caller.
_TIMEOUT_TOKEN = "sfidl.timeout."


def _not_positive(timeout: timedelta) -> ValueError:
    return ValueError(f"a call timeout must be positive, got {timeout}")


def _wrong_request(rpc: Rpc[Any, Any], request: object) -> TypeError:
    wanted = rpc.request.DESCRIPTOR.full_name
    return TypeError(f"{rpc.handler} takes a {wanted}, not {type(request).__name__}")


_MILLISECOND = timedelta(milliseconds=1)
_ZERO = timedelta(0)
_CALL_TIMEOUT = typename_of(CallTimeout)


@dataclass(slots=True)
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


def take_single(
    invocation: Invocation,
    rpc: Rpc[Any, Any],
    envelope: Any,
    singles: Mapping[str, tuple[Continuation, T, U]],
) -> tuple[T, U, Message, Message | None] | None:
    """:func:`on_reply`'s common case in one pass: a reply (not an error) from the callee
    asked, completing a single call of ``rpc`` whose continuation is in ``singles`` (by
    name, with two things that run it).

    Returns the two that run the continuation, the call's request and the carried value (None
    when the continuation carries nothing), with the call forgotten, its timeout cancelled
    and the continuation entered (:attr:`Invocation.member`, ``effects``). None for
    anything else (an error outcome, a join, a reply to drop, a record that no longer
    decodes), left as it was for :func:`on_reply`, which says why.
    """
    if envelope.WhichOneof("outcome") != "reply":
        return None
    group_id, _, index = envelope.correlation_id.partition(".")
    runtime = invocation.runtime
    group = runtime.pending.get(group_id)
    if group is None or index != "0":
        return None
    single = singles.get(group.continuation)  # (each read of a string field is a new str)
    if single is None:
        return None
    try:
        (call,) = group.calls
    except ValueError:  # not one call: recorded for another version's continuation
        return None
    sender = invocation.sender
    if (
        call.done
        or not _was_to(rpc, call)
        or sender is None
        or sender.id != call.target_id
        or sender.typename != call.target_typename
    ):
        return None
    continuation, first, second = single
    carries = continuation.carries
    try:
        request = rpc.request.FromString(call.request)
        carried = None
        if carries is not None:
            carried = carries.FromString(group.carried) if group.has_carried else carries()
    except DecodeError:
        return None
    token = group.timeout_token
    del runtime.pending[group_id]
    invocation.runtime_changed = True
    if token:
        invocation.sdk.cancel_delayed_message(token)
    invocation.member = continuation.name
    invocation.effects = continuation.effects
    return first, second, request, carried


def on_reply(
    invocation: Invocation,
    rpc: Rpc[Any, Any],
    envelope: Message,
    continuations: dict[str, Continuation],
) -> Completion | None:
    """Record a reply (checked by :func:`outcome_problem`); the completion if it was the last one.

    A reply nobody waits for (late after a timeout, duplicate, unknown correlation id,
    from another address than the one asked, or answering another rpc than the one
    called) is dropped and logged. The reply that completes its group is handed to the
    continuation as it came, never stored; only an earlier reply of a join is kept (its
    envelope's bytes) in the hidden state until the last one comes. (Dispatch completes
    the common case, the reply to a single call, without coming here.)
    """
    correlation: str = envelope.correlation_id  # type: ignore[attr-defined]
    group_id, _, index_text = correlation.partition(".")
    group = invocation.runtime.pending.get(group_id)
    if group is not None:
        # Each access to a protobuf field makes a new object: the calls are read once.
        recorded = list(group.calls)
        continuation = _continuation(invocation, group_id, group, recorded, continuations)
        # The call index: ASCII digits, or no call's.
        index = int(index_text) if index_text.isascii() and index_text.isdigit() else -1
        if continuation is not None and 0 <= index < len(recorded):
            call, target = recorded[index], continuation.targets[index]
            if (
                not call.done
                and (target is rpc or target == rpc)
                and invocation.is_from(call.target_typename, call.target_id)
            ):
                return _record(invocation, group_id, group, recorded, continuation, index, envelope)
    log.warning(
        "%s: dropped a reply from %s with correlation id %r: no call is waiting for it "
        "(late after a timeout, duplicate, or unknown)",
        invocation.address,
        invocation.caller or "an ingress",
        correlation,
    )
    return None


def _record(
    invocation: Invocation,
    group_id: str,
    group: PendingGroup,
    recorded: list[PendingCall],
    continuation: Continuation,
    index: int,
    envelope: Message,
) -> Completion | None:
    """Reply ``index`` of a group came: the completion if it is the last one, else kept."""
    for other, call in enumerate(recorded):
        if other != index and not call.done:  # a join still waiting for another reply
            invocation.changing()
            recorded[index].reply = envelope.SerializeToString()
            recorded[index].done = True
            return None
    return _complete(invocation, group_id, group, recorded, continuation, last=(index, envelope))


def on_timeout(
    invocation: Invocation, timeout: CallTimeout, continuations: dict[str, Continuation]
) -> Completion | None:
    """End the wait of a group; None when it already completed (the timer lost the race)."""
    group_id = timeout.group
    group = invocation.runtime.pending.get(group_id)
    if group is None:
        if not keeps_runtime_state(invocation.spec):
            # An earlier version's call, whose record went with the hidden state this
            # version does not keep: not one that completed, but one forgotten.
            log.warning(
                "%s: dropped call %s: this function has no continuation any more",
                invocation.address,
                group_id,
            )
        else:
            log.info("%s: call %s completed before its timeout", invocation.address, group_id)
        return None
    recorded = list(group.calls)
    continuation = _continuation(
        invocation, group_id, group, recorded, continuations, timed_out=True
    )
    if continuation is None:
        return None
    return _complete(invocation, group_id, group, recorded, continuation, timed_out=True)


def _continuation(
    invocation: Invocation,
    group_id: str,
    group: PendingGroup,
    recorded: list[PendingCall],
    continuations: dict[str, Continuation],
    *,
    timed_out: bool = False,
) -> Continuation | None:
    """The continuation of a pending group, or None after dropping a group it cannot take.

    A group recorded by an earlier version of the function (a redeploy since) whose
    continuation is gone or now expects other calls can never complete: it is dropped
    once, rather than failing every retry or handing the outcomes to the wrong method.
    """
    name = group.continuation
    continuation = continuations.get(name)
    if continuation is None:
        reason = f"this function has no continuation {name!r} any more"
    elif not _expects(continuation, recorded):
        reason = f"its continuation {continuation.name!r} now expects other calls"
    else:
        return continuation
    _drop(invocation, group_id, reason, timed_out)
    return None


def _expects(continuation: Continuation, recorded: list[PendingCall]) -> bool:
    """Whether ``continuation`` takes the outcomes of the calls a group recorded."""
    targets = continuation.targets
    return len(targets) == len(recorded) and all(map(_was_to, targets, recorded))


def _was_to(rpc: Rpc[Any, Any], call: PendingCall) -> bool:
    """Whether a recorded call was one to ``rpc``."""
    # Calls recorded before PendingCall.handler existed have it empty.
    return rpc.function == call.target_typename and call.handler in ("", rpc.handler)


def _drop(invocation: Invocation, group_id: str, reason: str, timed_out: bool) -> None:
    group = invocation.changing().pending.pop(group_id)
    log.warning("%s: dropped call %s: %s", invocation.address, group_id, reason)
    if group.timeout_token and not timed_out:
        invocation.cancel(group.timeout_token)


def _complete(
    invocation: Invocation,
    group_id: str,
    group: PendingGroup,
    recorded: list[PendingCall],
    continuation: Continuation,
    *,
    timed_out: bool = False,
    last: tuple[int, Message] | None = None,
) -> Completion | None:
    """The group's completion, and the group forgotten (its timeout cancelled).

    ``last``: the index and envelope of the reply completing it, not in the hidden state.
    """
    outcomes, requests = [], []
    try:
        for index, (rpc, call) in enumerate(zip(continuation.targets, recorded)):
            if last is not None and index == last[0]:
                outcomes.append(_outcome_of(rpc, last[1]))
            else:
                outcomes.append(_outcome(rpc, call, group))
            requests.append(rpc.request.FromString(call.request))
        carried = None
        if continuation.carries is not None and group.has_carried:
            carried = continuation.carries.FromString(group.carried)
    except DecodeError as error:
        _drop(invocation, group_id, f"what it recorded no longer decodes: {error}", timed_out)
        return None
    token = group.timeout_token
    del invocation.changing().pending[group_id]
    if token and not timed_out:
        invocation.cancel(token)
    return Completion(continuation, tuple(outcomes), tuple(requests), carried)


def _outcome(rpc: Rpc[Any, Any], call: PendingCall, group: PendingGroup) -> Any:
    if not call.done:
        return Timeout(after=timedelta(milliseconds=group.timeout_millis))
    envelope = rpc.reply_envelope.FromString(call.reply)
    problem = outcome_problem(rpc, envelope)
    if problem is not None:  # checked when it came: the types changed since
        raise DecodeError(problem)
    return _outcome_of(rpc, envelope)


def _outcome_of(rpc: Rpc[Any, Any], envelope: Message) -> Any:
    """The outcome a reply envelope of ``rpc`` carries (checked by :func:`outcome_problem`)."""
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
    if not isinstance(outcome, RpcError):
        return rpc.reply_envelope(correlation_id=correlation_id, reply=outcome)  # a copy
    envelope = rpc.reply_envelope(correlation_id=correlation_id)
    detail = outcome.detail
    name = detail.DESCRIPTOR.full_name
    field = next(
        f
        for f in envelope.DESCRIPTOR.oneofs_by_name["outcome"].fields
        if f.message_type is not None and f.message_type.full_name == name
    )
    getattr(envelope, field.name).CopyFrom(detail)
    return envelope
