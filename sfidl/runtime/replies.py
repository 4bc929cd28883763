"""Deferred replies: a request/reply handler that answers after it returns.

``ctx.defer()`` records the call being answered (caller, correlation id, rpc, the
caller's deadline) in the instance's hidden state and gives a :class:`Deferred` whose id
the handler keeps (in state, or carried along a call); returning it answers nothing yet.
A later invocation of the same instance, in a member declaring ``completes <rpc>``,
completes it through :class:`PendingReplies` with the reply or a declared error: the
reply envelope goes to the original caller, exactly as an immediate answer would.

All of it lives in hidden state, so it survives restarts and redeploys. At the caller's
deadline a delayed self-message (:class:`ReplyExpired`) forgets a reply still pending:
the caller has stopped waiting, and the hidden state must not grow without bound.
Completing twice, an unknown id, another rpc's id or an expired one is logged and
answers nothing: a caller never gets two replies.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, NewType, TypeVar

import statefun
from google.protobuf.message import Message
from statefun.request_reply_pb2 import TypedValue

from sfidl.runtime.calls import reply_envelope
from sfidl.runtime.errors import RpcError
from sfidl.runtime.internal_pb2 import PendingReply, ReplyExpired
from sfidl.runtime.invocation import Invocation, keeps_runtime_state
from sfidl.runtime.spec import RequestReply, Rpc
from sfidl.runtime.types import typename_of
from sfidl.wire import Address

log = logging.getLogger("sfidl.runtime")

Rep = TypeVar("Rep", bound=Message)
E = TypeVar("E")

ReplyId = NewType("ReplyId", str)
"""Identifies a deferred reply of one instance; keep it (in state, or carried) to complete it."""

# Cleanup tokens are this prefix and the reply id (itself unique per instance).
_CLEANUP_TOKEN = "sfidl.reply."
_MAX_DELAY_MILLIS = timedelta.max // timedelta(milliseconds=1)
_REPLY_EXPIRED = typename_of(ReplyExpired)


@dataclass(frozen=True)
class Deferred:
    """What ``ctx.defer()`` returns: return it from the rpc method to answer later."""

    id: ReplyId


def defer(invocation: Invocation) -> Deferred:
    """Record the call being answered as a pending reply; the same Deferred if called again."""
    handler = invocation.answering
    if handler is None or not handler.defers:
        if handler is None:
            invocation.refuse("cannot defer: only a request/reply handler answers a caller")
        invocation.refuse(
            f"cannot defer its reply: no member of {invocation.spec.typename} declares "
            f"`completes {handler.name}`"
        )
    if invocation.deferred is not None:
        deferred: Deferred = invocation.deferred
        return deferred
    sender = invocation.sender
    assert sender is not None  # dispatch set aside a call with nobody to answer
    runtime = invocation.runtime  # Invocation.next_id and changing, inline
    invocation.runtime_changed = True
    reply_id = ReplyId(str(runtime.next_id))
    runtime.next_id += 1
    pending = runtime.replies[reply_id]
    pending.caller_typename = sender.typename
    pending.caller_id = sender.id
    envelope = invocation.envelope
    pending.correlation_id = envelope.correlation_id
    pending.handler = handler.name
    pending.deadline_millis = envelope.deadline_millis
    made = invocation.deferred = Deferred(reply_id)
    return made


def answer(invocation: Invocation, handler: RequestReply, outcome: Any, *, raised: bool) -> None:
    """Answer the call being handled with what the rpc method returned or raised.

    A reply or a declared error is sent to the caller now; the handler's own Deferred
    leaves the answer to a later completion, forgotten at the caller's deadline.
    """
    rpc = handler.rpc
    deferred = invocation.deferred
    if type(outcome) is rpc.reply and deferred is None:  # the common case, checked at once
        sender = invocation.sender
        correlation_id = invocation.envelope.correlation_id
        value = rpc.reply_envelope(correlation_id=correlation_id, reply=outcome).SerializeToString()
        # Invocation.send, inline: once per call answered.
        invocation.sdk.send(
            statefun.Message(
                sender.typename,
                sender.id,
                TypedValue(typename=rpc.reply_typename, has_value=True, value=value),
            )
        )
        return
    if isinstance(outcome, Deferred):
        if outcome is not deferred and outcome != deferred:
            raise TypeError(
                f"{handler.name} returned a Deferred it did not get from this call's ctx.defer()"
            )
        expire_at_deadline(invocation, outcome.id)
        return
    check_outcome(invocation, rpc, outcome, "raised" if raised else "returned")
    if deferred is not None:  # deferred, then answered at once after all
        invocation.changing().replies.pop(deferred.id, None)
    sender = invocation.sender
    assert sender is not None
    envelope = reply_envelope(rpc, invocation.envelope.correlation_id, outcome)
    invocation.send(sender.typename, sender.id, envelope)


def check_outcome(invocation: Invocation, rpc: Rpc[Any, Any], outcome: Any, how: str) -> None:
    """Raise unless ``outcome`` is a reply of ``rpc`` or one of its declared errors."""
    if isinstance(outcome, RpcError):
        if type(outcome) not in rpc.errors:
            declared = ", ".join(e.__name__ for e in rpc.errors) or "no errors"
            invocation.refuse(
                f"{how} {type(outcome).__name__} ({outcome}), an error {rpc.handler} does not "
                f"declare: it declares {declared}"
            )
    elif not isinstance(outcome, rpc.reply):
        raise TypeError(
            f"{rpc.handler} must return a {rpc.reply.DESCRIPTOR.full_name}, "
            f"not {type(outcome).__name__}"
        )


def expire_at_deadline(invocation: Invocation, reply_id: ReplyId) -> None:
    """Forget the deferred reply ``reply_id`` at its caller's deadline, if it has one."""
    pending = invocation.runtime.replies.get(reply_id)  # its cleanup token is set
    if pending is None or not pending.deadline_millis:
        return  # completed already, or the caller waits forever: so does the reply
    invocation.runtime_changed = True
    token = pending.cleanup_token = _CLEANUP_TOKEN + reply_id
    # The deadline comes off the wire: any int64, where a timedelta ends sooner.
    delay = pending.deadline_millis - invocation.deployment.now_ms()
    delay = 0 if delay < 0 else _MAX_DELAY_MILLIS if delay > _MAX_DELAY_MILLIS else delay
    sdk = invocation.sdk
    here = sdk.address
    value = ReplyExpired(reply=reply_id).SerializeToString()
    # Invocation.send_self_after, inline (the delay is never negative): once per deferral.
    sdk.send_after(
        timedelta(milliseconds=delay),
        statefun.Message(
            here.typename,
            here.id,
            TypedValue(typename=_REPLY_EXPIRED, has_value=True, value=value),
        ),
        token,
    )


def complete(
    invocation: Invocation, rpc: Rpc[Any, Any], reply_id: str, outcome: Any, how: str
) -> bool:
    """Answer the deferred reply ``reply_id`` of ``rpc``; False (logged) when it cannot be."""
    if rpc.handler not in invocation.effects.completes:
        invocation.require("completes", rpc.handler)  # raises, saying what is undeclared
    is_reply = type(outcome) is rpc.reply  # else checked: a declared error, or it raises
    if not is_reply:
        check_outcome(invocation, rpc, outcome, how)
    runtime = invocation.runtime
    pending = runtime.replies.get(reply_id)
    if pending is None or pending.handler != rpc.handler:
        log.warning(
            "%s: no deferred reply %r of %s is pending (completed already, expired, or "
            "unknown): nothing sent",
            invocation.address,
            reply_id,
            rpc.handler,
        )
        return False
    deadline = pending.deadline_millis
    if deadline and invocation.deployment.now_ms() >= deadline:
        _forget(invocation, reply_id, pending)
        log.warning(
            "%s: the deferred reply %r of %s came after its caller's deadline: nothing sent",
            invocation.address,
            reply_id,
            rpc.handler,
        )
        return False
    correlation_id = pending.correlation_id
    if is_reply:  # reply_envelope's common case, inline
        envelope = rpc.reply_envelope(correlation_id=correlation_id, reply=outcome)
    else:
        envelope = reply_envelope(rpc, correlation_id, outcome)
    sdk = invocation.sdk
    # Invocation.send and _forget, inline: once per completion.
    value = envelope.SerializeToString()
    sdk.send(
        statefun.Message(
            pending.caller_typename,
            pending.caller_id,
            TypedValue(typename=rpc.reply_typename, has_value=True, value=value),
        )
    )
    token = pending.cleanup_token
    if token:
        sdk.cancel_delayed_message(token)
    del runtime.replies[reply_id]
    invocation.runtime_changed = True
    return True


def _forget(invocation: Invocation, reply_id: str, pending: PendingReply) -> None:
    if pending.cleanup_token:
        invocation.cancel(pending.cleanup_token)
    del invocation.changing().replies[reply_id]


def on_expired(invocation: Invocation, expired: ReplyExpired) -> None:
    """The caller's deadline passed: forget the reply if it is still pending."""
    replies = invocation.runtime.replies
    pending = replies.get(expired.reply)
    if pending is None:
        if not keeps_runtime_state(invocation.spec):
            # An earlier version's deferred reply, gone with the hidden state this version
            # does not keep: never completed, forgotten.
            log.warning(
                "%s: forgot the deferred reply %s: this version of the function cannot "
                "complete it",
                invocation.address,
                expired.reply,
            )
        else:
            log.info(
                "%s: deferred reply %s completed before its deadline",
                invocation.address,
                expired.reply,
            )
        return
    del invocation.changing().replies[expired.reply]  # its cleanup is this message
    log.warning(
        "%s: forgot the deferred reply %s of %s to %s: never completed before its caller's "
        "deadline",
        invocation.address,
        expired.reply,
        pending.handler,
        Address.of(pending.caller_typename, pending.caller_id),
    )


def forget_orphans(invocation: Invocation) -> None:
    """Forget pending replies of an rpc a redeploy removed or made unable to defer.

    No member can complete them any more: without a deadline they would stay forever
    and keep an exclusive instance holding every message.
    """
    replies = invocation.runtime.replies
    deferring = {
        h.name for h in invocation.spec.handlers if isinstance(h, RequestReply) and h.defers
    }
    for reply_id in [i for i, pending in replies.items() if pending.handler not in deferring]:
        pending = replies[reply_id]
        log.warning(
            "%s: forgot the deferred reply %s of %s to %s: this version of the function "
            "cannot complete it",
            invocation.address,
            reply_id,
            pending.handler,
            Address.of(pending.caller_typename, pending.caller_id),
        )
        _forget(invocation, reply_id, pending)


class PendingReplies(Generic[Rep, E]):
    """The deferred replies of one rpc: complete one by its id, with a reply or an error.

    ``reply`` and ``fail`` return True when the caller was answered, False (and a log
    line) when the id is unknown, belongs to another rpc, was completed already or
    expired: a caller never gets a second reply.
    """

    __slots__ = ("_invocation", "_rpc")

    def __init__(self, invocation: Invocation, rpc: Rpc[Any, Rep]) -> None:
        self._invocation = invocation
        self._rpc = rpc

    def reply(self, id: ReplyId, reply: Rep) -> bool:
        """Answer the caller waiting on ``id`` with ``reply``."""
        return complete(self._invocation, self._rpc, id, reply, "replied with")

    def fail(self, id: ReplyId, error: E) -> bool:
        """Answer the caller waiting on ``id`` with a declared error of the rpc."""
        return complete(self._invocation, self._rpc, id, error, "failed with")
