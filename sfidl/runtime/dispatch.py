"""Routing one incoming StateFun message to the right method of a function implementation.

Per function type, a table maps message typenames to routes: a one-way handler's
request type, a request/reply handler's call envelope, the reply envelopes of the calls
it makes, and sfidl's own timeout and timer messages. What matches no route, or cannot
be decoded, is a poison message: logged and set aside (to the dead-letter egress when
the program declares one), never retried forever. Exceptions raised by user code are
not caught: they fail the invocation so StateFun retries it from consistent state.
Implementations may be plain or ``async`` methods: a returned awaitable is awaited.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError, Message

from sfidl.runtime import calls
from sfidl.runtime.errors import RpcError
from sfidl.runtime.internal_pb2 import CallTimeout, TimerFired
from sfidl.runtime.invocation import Deployment, Invocation
from sfidl.runtime.spec import Continuation, FunctionSpec, OneWay, RequestReply, Rpc, Timer
from sfidl.runtime.types import typename_of


@dataclass(frozen=True)
class _Reply:
    rpc: Rpc[Any, Any]


Route = OneWay | RequestReply | _Reply | type[CallTimeout] | type[TimerFired]


def routes(spec: FunctionSpec) -> dict[str, Route]:
    """The typename -> route table of one function type."""
    table: dict[str, Route] = {
        typename_of(CallTimeout): CallTimeout,
        typename_of(TimerFired): TimerFired,
    }
    for handler in spec.handlers:
        key = typename_of(
            handler.request if isinstance(handler, OneWay) else handler.rpc.call_envelope
        )
        table[key] = handler
    for continuation in spec.continuations:
        for rpc in continuation.targets:
            table.setdefault(typename_of(rpc.reply_envelope), _Reply(rpc))
    return table


def invoker(
    implementation: Any, spec: FunctionSpec, deployment: Deployment
) -> Callable[[Any, Any], Coroutine[Any, Any, None]]:
    """The two-argument async function the SDK registers for ``spec.typename``."""
    table = routes(spec)
    continuations = {c.name: c for c in spec.continuations}
    timers = {t.name: t for t in spec.timers}

    async def invoke(context: Any, message: Any) -> None:
        invocation = Invocation(context, message, spec, deployment)
        typed = message.typed_value
        route = table.get(typed.typename)
        if route is None:
            invocation.dead_letter(f"{spec.typename} has no handler for this message type")
            return
        if not typed.has_value:
            invocation.dead_letter("the message carries no value")
            return
        ctx = spec.context(invocation)
        try:
            await _dispatch(implementation, ctx, invocation, route, continuations, timers)
        except _Poison as poison:
            invocation.dead_letter(str(poison))
            return
        invocation.finish()

    return invoke


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


async def _dispatch(
    implementation: Any,
    ctx: Any,
    invocation: Invocation,
    route: Route,
    continuations: dict[str, Continuation],
    timers: dict[str, Timer],
) -> None:
    data: bytes = invocation.message.typed_value.value
    if isinstance(route, OneWay):
        await _run(getattr(implementation, route.name), ctx, _decode(route.request, data))
    elif isinstance(route, RequestReply):
        envelope = _decode(route.rpc.call_envelope, data)
        await _answer(implementation, ctx, invocation, route, envelope)
    elif isinstance(route, _Reply):
        envelope = _decode(route.rpc.reply_envelope, data)
        problem = calls.outcome_problem(route.rpc, envelope)
        if problem is not None:
            raise _Poison(problem)
        completion = calls.on_reply(invocation, route.rpc, envelope, continuations)
        await _resume(implementation, ctx, completion)
    elif route is CallTimeout:
        timeout = _decode(CallTimeout, data)
        if invocation.caller != invocation.address:
            raise _Poison(
                f"a call timeout from {invocation.caller or 'an ingress'}, not from itself"
            )
        await _resume(implementation, ctx, calls.on_timeout(invocation, timeout, continuations))
    else:
        fired = _decode(TimerFired, data)
        if invocation.caller != invocation.address or fired.timer not in timers:
            raise _Poison(f"not a timer this function set: {fired.timer!r}")
        timer = timers[fired.timer]
        await _run(getattr(implementation, timer.name), ctx, _decode(timer.message, fired.payload))


async def _answer(
    implementation: Any, ctx: Any, invocation: Invocation, handler: RequestReply, envelope: Any
) -> None:
    rpc = handler.rpc
    caller = invocation.caller
    if caller is None:
        raise _Poison(f"{rpc.handler} returns a reply but the call has no caller to send it to")
    outcome: Message | RpcError[Any]
    try:
        outcome = await _run(getattr(implementation, handler.name), ctx, envelope.request)
    except RpcError as error:
        if type(error) not in rpc.errors:
            raise  # not declared for this handler: fail the invocation, as any bug would
        outcome = error
    else:
        # Only a raised error answers with it; a returned one is a bug like any wrong type.
        if not isinstance(outcome, rpc.reply):
            raise TypeError(
                f"{handler.name} must return a {rpc.reply.DESCRIPTOR.full_name}, "
                f"not {type(outcome).__name__}"
            )
    invocation.send(caller, calls.reply_envelope(rpc, envelope.correlation_id, outcome))


async def _resume(implementation: Any, ctx: Any, completion: calls.Completion | None) -> None:
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
    await _run(method, ctx, *args)
