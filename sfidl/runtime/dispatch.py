"""Routing one incoming StateFun message to the right method of a function implementation.

Per function type, a table maps message typenames to routes: a one-way handler's
request type (also in its proto3 JSON form, :func:`~sfidl.runtime.types.json_typename`),
a request/reply handler's call envelope, the reply envelopes of the calls
it makes, and sfidl's own timeout, reply-expiry and timer messages. What matches no
route, or cannot be decoded, is a poison message: logged and set aside (to the
dead-letter egress when the program declares one), never retried forever. Exceptions
raised by user code are not caught: they fail the invocation so StateFun retries it from
consistent state. Implementations may be plain or ``async`` methods: a returned
awaitable is awaited.

A call that arrives after its caller's deadline is not run: the caller has timed out and
would drop the reply. Before user code runs, the invocation records the member running and what it declared
(its :class:`~sfidl.runtime.spec.Effects`), which every effect is checked against. An
exclusive function holds messages while it waits (:mod:`sfidl.runtime.exclusive`).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from statefun.request_reply_pb2 import FromFunction, ToFunction
from statefun.request_reply_v3 import collect_egress, sdk_address_from_pb

from sfidl.runtime import calls, exclusive, replies
from sfidl.runtime.context import Context
from sfidl.runtime.errors import RpcError
from sfidl.runtime.internal_pb2 import CallTimeout, ReplyExpired, TimerFired
from sfidl.runtime.invocation import Deployment, Invocation
from sfidl.runtime.spec import (
    Continuation,
    FunctionSpec,
    Member,
    OneWay,
    RequestReply,
    Rpc,
    Timer,
)
from sfidl.runtime.state import State
from sfidl.runtime.types import json_typename, typename_of
from sfidl.wire import JSON_SUFFIX, Address

log = logging.getLogger("sfidl.runtime")


@dataclass(frozen=True)
class _Reply:
    rpc: Rpc[Any, Any]


Route = OneWay | RequestReply | _Reply | type[CallTimeout] | type[TimerFired] | type[ReplyExpired]


def routes(spec: FunctionSpec) -> dict[str, Route]:
    """The typename -> route table of one function type."""
    table: dict[str, Route] = {
        typename_of(CallTimeout): CallTimeout,
        typename_of(TimerFired): TimerFired,
        typename_of(ReplyExpired): ReplyExpired,
    }
    for handler in spec.handlers:
        key = typename_of(
            handler.request if isinstance(handler, OneWay) else handler.rpc.call_envelope
        )
        table[key] = handler
        if isinstance(handler, OneWay):
            table[json_typename(handler.request)] = handler
    for continuation in spec.continuations:
        for rpc in continuation.targets:
            table.setdefault(typename_of(rpc.reply_envelope), _Reply(rpc))
    return table


def ingress_typenames(spec: FunctionSpec) -> frozenset[str]:
    """The typenames a message from an ingress (no caller) may carry: the one-way handlers'
    requests, as protobuf and as proto3 JSON. Anything else is set aside when it arrives."""
    return frozenset(
        typename for typename, route in routes(spec).items() if isinstance(route, OneWay)
    )


def invoker(
    implementation: Any, spec: FunctionSpec, deployment: Deployment
) -> Callable[[Any, Any], Coroutine[Any, Any, None]]:
    """The two-argument async function the SDK registers for ``spec.typename``."""
    table = routes(spec)
    continuations = {c.name: c for c in spec.continuations}
    timers = {t.name: t for t in spec.timers}

    async def handle(invocation: Invocation, route: Route | None) -> None:
        if route is None:
            invocation.dead_letter(f"{spec.typename} has no handler for this message type")
            return
        if not invocation.message.has_value:
            invocation.dead_letter("the message carries no value")
            return
        try:
            await _dispatch(implementation, invocation, route, continuations, timers)
        except _Poison as poison:
            invocation.dead_letter(str(poison))
            return
        invocation.finish()

    async def invoke(context: Any, message: Any) -> None:
        typed = message.typed_value
        invocation = Invocation(context, typed, Address.from_sdk(context.caller), spec, deployment)
        route = table.get(typed.typename)
        if spec.exclusive and exclusive.may_hold(route) and exclusive.hold_if_busy(invocation):
            invocation.finish()
        else:
            await handle(invocation, route)
        if not invocation.releases:
            return
        # Nothing pending any more: what was held runs now, in order, as if just arrived.
        while True:
            control = Invocation(context, None, None, spec, deployment)
            held = exclusive.take_next(control)
            control.finish()
            if held is None:
                return
            typed, caller = held
            await handle(
                Invocation(context, typed, caller, spec, deployment), table.get(typed.typename)
            )

    return invoke


def set_aside(
    deployment: Deployment, batch: ToFunction.InvocationBatchRequest, reason: str
) -> bytes:
    """The ``FromFunction`` bytes for a batch no function of the application can take.

    For a function type the application does not serve, or state that no function wrote:
    each message is dead-lettered for ``reason`` like poison (logged, and written to the
    dead-letter egress if the program declares one) and no state changes, so StateFun
    moves on instead of retrying what can never succeed until it fails the job.
    """
    target = sdk_address_from_pb(batch.target)
    outbox = _Outbox(target)
    # No function of the application is behind it: a spec with no handler to name it.
    spec = FunctionSpec(typename=target.typename, context=Context, state=State, handlers=())
    for entry in batch.invocations:
        caller = Address.from_sdk(sdk_address_from_pb(entry.caller))
        Invocation(outbox, entry.argument, caller, spec, deployment).dead_letter(reason)
    response = FromFunction()
    collect_egress(outbox.egress, response.invocation_result)
    data: bytes = response.SerializeToString()
    return data


class _Outbox:
    """What :meth:`Invocation.dead_letter` needs of the SDK's context: an address, egress."""

    def __init__(self, address: Any) -> None:
        self.address = address
        self.egress: list[Any] = []

    def send_egress(self, message: Any) -> None:
        self.egress.append(message)


class _Poison(Exception):
    """The message cannot be processed, whatever the retries: set it aside."""


async def _run(method: Callable[..., Any], *args: Any) -> Any:
    """Call a user method, awaiting it when it is ``async``."""
    result = method(*args)
    return await result if inspect.isawaitable(result) else result


def _decode(cls: type[Message], data: bytes) -> Any:
    try:
        return cls.FromString(data)
    except DecodeError as error:
        raise _Poison(f"cannot decode a {cls.DESCRIPTOR.full_name}: {error}") from None


def _decode_json(cls: type[Message], data: bytes) -> Any:
    """A message from its proto3 JSON form; unknown fields are an error, as a typo would be."""
    try:
        return json_format.Parse(data.decode("utf-8"), cls())
    except (json_format.ParseError, UnicodeDecodeError) as error:  # nesting too: a ParseError
        raise _Poison(f"cannot decode a {cls.DESCRIPTOR.full_name} from JSON: {error}") from None


async def _dispatch(
    implementation: Any,
    invocation: Invocation,
    route: Route,
    continuations: dict[str, Continuation],
    timers: dict[str, Timer],
) -> None:
    data: bytes = invocation.message.value
    if isinstance(route, OneWay):
        if invocation.message.typename.endswith(JSON_SUFFIX):
            message = _decode_json(route.request, data)
        else:
            message = _decode(route.request, data)
        await _run(getattr(implementation, route.name), _enter(invocation, route), message)
    elif isinstance(route, RequestReply):
        envelope = _decode(route.rpc.call_envelope, data)
        await _answer(implementation, invocation, route, envelope)
    elif isinstance(route, _Reply):
        envelope = _decode(route.rpc.reply_envelope, data)
        problem = calls.outcome_problem(route.rpc, envelope)
        if problem is not None:
            raise _Poison(problem)
        completion = calls.on_reply(invocation, route.rpc, envelope, continuations)
        await _resume(implementation, invocation, completion)
    elif route is CallTimeout:
        timeout = _decode(CallTimeout, data)
        _from_itself(invocation, "a call timeout")
        completion = calls.on_timeout(invocation, timeout, continuations)
        await _resume(implementation, invocation, completion)
    elif route is ReplyExpired:
        expired = _decode(ReplyExpired, data)
        _from_itself(invocation, "a deferred reply's expiry")
        replies.on_expired(invocation, expired)
    else:
        fired = _decode(TimerFired, data)
        if invocation.caller != invocation.address or fired.timer not in timers:
            raise _Poison(f"not a timer this function set: {fired.timer!r}")
        timer = timers[fired.timer]
        message = _decode(timer.message, fired.payload)
        await _run(getattr(implementation, timer.name), _enter(invocation, timer), message)


def _enter(invocation: Invocation, member: Member) -> Any:
    """Record the member about to run (what it declared is all it may do); its context."""
    invocation.member = member.name
    invocation.effects = member.effects
    return (member.context or invocation.spec.context)(invocation)


def _from_itself(invocation: Invocation, what: str) -> None:
    if invocation.caller != invocation.address:
        raise _Poison(f"{what} from {invocation.caller or 'an ingress'}, not from itself")


async def _answer(
    implementation: Any, invocation: Invocation, handler: RequestReply, envelope: Any
) -> None:
    if invocation.caller is None:
        raise _Poison(
            f"{handler.rpc.handler} returns a reply but the call has no caller to send it to"
        )
    deadline = envelope.deadline_millis
    if deadline and invocation.now_ms() >= deadline:
        # The caller has timed out: it would drop the reply, so running the call now would
        # only leave effects nobody accounts for (stock reserved for a cart that gave up).
        log.warning(
            "%s: did not run a call to %s from %s: its caller's deadline passed before it "
            "arrived (correlation id %r)",
            invocation.address,
            handler.name,
            invocation.caller,
            envelope.correlation_id,
        )
        return
    ctx = _enter(invocation, handler)
    invocation.answering = handler
    invocation.envelope = envelope
    try:
        outcome = await _run(getattr(implementation, handler.name), ctx, envelope.request)
    except RpcError as error:
        # Declared or not: replies.answer fails the invocation for an undeclared one,
        # naming it and what the handler declares.
        replies.answer(invocation, handler, error, raised=True)
    else:
        replies.answer(invocation, handler, outcome, raised=False)


async def _resume(
    implementation: Any, invocation: Invocation, completion: calls.Completion | None
) -> None:
    if completion is None:
        return
    continuation = completion.continuation
    method = getattr(implementation, continuation.name)
    if continuation.is_join:
        args: list[Any] = [completion.outcomes, completion.requests]
    else:
        args = [completion.outcomes[0], completion.requests[0]]
    if continuation.carries is not None:
        args.append(
            completion.carried if completion.carried is not None else continuation.carries()
        )
    await _run(method, _enter(invocation, continuation), *args)
