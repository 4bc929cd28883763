"""Exclusive instances: hold other messages while a call or a deferred reply is pending.

StateFun hands an instance its next message as soon as the previous invocation ends, so
a handler waiting on a call sees other messages run in between. An ``exclusive``
function instead appends them, in arrival order and with their original caller, to the
hidden state's FIFO; once an invocation ends with nothing pending, dispatch handles the
held ones inline, in the same SDK invocation, until one makes something pending again.
Being plain hidden state, this works on a real StateFun cluster and survives restarts.

What completes the wait is never held, or the instance would wait forever: replies,
call timeouts, reply expiries, timers, and messages for members declaring ``completes``.
"""

from __future__ import annotations

from typing import Any

from statefun.request_reply_pb2 import TypedValue

from sfidl.runtime import replies
from sfidl.runtime.invocation import Invocation
from sfidl.runtime.spec import OneWay, RequestReply
from sfidl.wire import Address


def may_hold(route: Any) -> bool:
    """Whether a message for ``route`` waits while the instance is busy."""
    return isinstance(route, OneWay | RequestReply) and not route.effects.completes


def hold_if_busy(invocation: Invocation) -> bool:
    """Append the message to the held FIFO if a call or deferred reply is pending.

    Also while earlier messages are held, so arrival order is kept.
    """
    runtime = invocation.runtime
    if runtime.replies:
        replies.forget_orphans(invocation)  # or a redeploy could make it hold forever
    if not (runtime.pending or runtime.replies or runtime.held):
        return False
    sender = invocation.sender
    invocation.changing().held.add(
        typename=invocation.message.typename,
        value=invocation.message.value,
        caller_typename=sender.typename if sender is not None else "",
        caller_id=sender.id if sender is not None else "",
    )
    return True


def take_next(invocation: Invocation) -> tuple[TypedValue, Address | None] | None:
    """Remove and return the first held message, or None while something is pending.

    ``invocation`` only carries the hidden state: finish it to write the removal back.
    """
    runtime = invocation.runtime
    if not runtime.held or runtime.pending or runtime.replies:
        return None
    first = runtime.held[0]
    typed = TypedValue(typename=first.typename, has_value=True, value=first.value)
    caller = Address.of(first.caller_typename, first.caller_id) if first.caller_typename else None
    del invocation.changing().held[0]
    return typed, caller
