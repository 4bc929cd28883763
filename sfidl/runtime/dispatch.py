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
from collections.abc import Awaitable, Callable, Coroutine
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
from sfidl.runtime.invocation import Deployment, Invocation, invocation_class
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
from sfidl.wire import JSON_SUFFIX

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
    """The two-argument async function the SDK registers for ``spec.typename``.

    Everything that depends only on the function (what runs for each typename, which
    messages an exclusive instance holds) is worked out here, once, not per message.
    """
    continuations = {c.name: c for c in spec.continuations}
    timers = {t.name: t for t in spec.timers}
    # Every user method is looked up once, here, and called bound: not per message.
    resumes = {c.name: getattr(implementation, c.name) for c in spec.continuations}
    table = routes(spec)
    runners = {
        typename: _runner(implementation, spec, typename, route, continuations, resumes, timers)
        for typename, route in table.items()
    }
    holding = frozenset(t for t, r in table.items() if spec.exclusive and exclusive.may_hold(r))
    new_invocation = invocation_class(spec, deployment)

    async def handle(invocation: Invocation, run: _Run | None) -> None:
        if run is None:
            invocation.dead_letter(f"{spec.typename} has no handler for this message type")
            return
        if not invocation.message.has_value:
            invocation.dead_letter("the message carries no value")
            return
        try:
            result = run(invocation)
            if result is not None:
                await _awaited(result)
        except _Poison as poison:
            invocation.dead_letter(str(poison))
            return
        invocation.finish()

    async def invoke(context: Any, message: Any) -> None:
        typed = message.typed_value
        typename = typed.typename
        invocation = new_invocation(context, typed, context.caller)
        run = runners.get(typename)
        if run is None or not typed.has_value:
            await handle(invocation, run)
        elif holding and typename in holding and exclusive.hold_if_busy(invocation):
            invocation.finish()
        else:  # what handle does, one call less
            try:
                result = run(invocation)
                if result is not None:
                    await _awaited(result)
            except _Poison as poison:
                invocation.dead_letter(str(poison))
            else:
                invocation.finish()
        if invocation.releases:
            await release(context)

    async def release(context: Any) -> None:
        """Nothing is pending any more: what was held runs now, in order, as if just arrived."""
        while True:
            control = new_invocation(context, None, None)
            held = exclusive.take_next(control)
            control.finish()
            if held is None:
                return
            typed, caller = held
            await handle(new_invocation(context, typed, caller), runners.get(typed.typename))

    return invoke


# A runner runs what it can at once and returns what is left to await (async user code),
# if anything: most messages need no coroutine of their own.
_Run = Callable[[Invocation], Any]


def _runner(
    implementation: Any,
    spec: FunctionSpec,
    typename: str,
    route: Route,
    continuations: dict[str, Continuation],
    resumes: dict[str, Callable[..., Any]],
    timers: dict[str, Timer],
) -> _Run:
    """What runs a message of ``typename`` (decoded, checked, handed to user code)."""
    if isinstance(route, OneWay):
        return _one_way(implementation, spec, route, json=typename.endswith(JSON_SUFFIX))
    if isinstance(route, RequestReply):
        return _answerer(implementation, spec, route)
    if isinstance(route, _Reply):
        return _reply_taker(spec, route.rpc, continuations, resumes)
    if route is CallTimeout:

        def on_timeout(invocation: Invocation) -> Any:
            timeout = _decode(CallTimeout, invocation.message.value)
            _from_itself(invocation, "a call timeout")
            completion = calls.on_timeout(invocation, timeout, continuations)
            if completion is None:
                return None
            return _resume(resumes, invocation, completion)

        return on_timeout
    if route is ReplyExpired:

        def on_expired(invocation: Invocation) -> None:
            expired = _decode(ReplyExpired, invocation.message.value)
            _from_itself(invocation, "a deferred reply's expiry")
            replies.on_expired(invocation, expired)

        return on_expired

    fires = {name: (timer, getattr(implementation, name)) for name, timer in timers.items()}

    def on_timer(invocation: Invocation) -> Any:
        fired = _decode(TimerFired, invocation.message.value)
        if not invocation.is_from_itself() or fired.timer not in fires:
            raise _Poison(f"not a timer this function set: {fired.timer!r}")
        timer, method = fires[fired.timer]
        message = _decode(timer.message, fired.payload)
        return method(_enter(invocation, timer), message)

    return on_timer


def _one_way(implementation: Any, spec: FunctionSpec, handler: OneWay, *, json: bool) -> _Run:
    """What runs a one-way handler on its request (in its proto3 JSON form if ``json``)."""
    request, name, effects = handler.request, handler.name, handler.effects
    context = handler.context or spec.context
    method = getattr(implementation, name)
    if json:

        def on_json(invocation: Invocation) -> Any:
            message = _decode_json(request, invocation.message.value)
            invocation.member = name
            invocation.effects = effects
            return method(context(invocation), message)

        return on_json
    parse = request.FromString

    def on_message(invocation: Invocation) -> Any:
        try:  # _decode, inline: this runs for every message
            message = parse(invocation.message.value)
        except DecodeError as error:
            raise _undecodable(request, error) from None
        invocation.member = name
        invocation.effects = effects
        return method(context(invocation), message)

    return on_message


def _reply_taker(
    spec: FunctionSpec,
    rpc: Rpc[Any, Any],
    continuations: dict[str, Continuation],
    resumes: dict[str, Callable[..., Any]],
) -> _Run:
    """What runs a reply of ``rpc``: its continuation, once its group is complete."""
    reply_envelope = rpc.reply_envelope
    # The continuations of a single call of ``rpc``, with their methods and contexts.
    singles = {
        c.name: (c, resumes[c.name], c.context or spec.context)
        for c in spec.continuations
        if c.targets == (rpc,)
    }

    def on_reply(invocation: Invocation) -> Any:
        try:
            envelope: Any = reply_envelope.FromString(invocation.message.value)
        except DecodeError as error:
            raise _undecodable(reply_envelope, error) from None
        taken = calls.take_single(invocation, rpc, envelope, singles)
        if taken is not None:
            method, context, request, carried = taken
            if carried is None:
                return method(context(invocation), envelope.reply, request)
            return method(context(invocation), envelope.reply, request, carried)
        problem = calls.outcome_problem(rpc, envelope)
        if problem is not None:
            raise _Poison(problem)
        completion = calls.on_reply(invocation, rpc, envelope, continuations)
        if completion is None:
            return None
        return _resume(resumes, invocation, completion)

    return on_reply


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
    new_invocation = invocation_class(spec, deployment)
    for entry in batch.invocations:
        sender = sdk_address_from_pb(entry.caller)
        new_invocation(outbox, entry.argument, sender).dead_letter(reason)
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


async def _awaited(result: Any) -> Any:
    """What a user method returned (not None), awaited if it is ``async``."""
    return await result if inspect.isawaitable(result) else result


def _decode(cls: type[Message], data: bytes) -> Any:
    try:
        return cls.FromString(data)
    except DecodeError as error:
        raise _undecodable(cls, error) from None


def _undecodable(cls: type[Message], error: DecodeError) -> _Poison:
    return _Poison(f"cannot decode a {cls.DESCRIPTOR.full_name}: {error}")


def _decode_json(cls: type[Message], data: bytes) -> Any:
    """A message from its proto3 JSON form; unknown fields are an error, as a typo would be."""
    try:
        return json_format.Parse(data.decode("utf-8"), cls())
    except (json_format.ParseError, UnicodeDecodeError) as error:  # nesting too: a ParseError
        raise _Poison(f"cannot decode a {cls.DESCRIPTOR.full_name} from JSON: {error}") from None


def _enter(invocation: Invocation, member: Member) -> Any:
    """Record the member about to run (what it declared is all it may do); its context."""
    invocation.member = member.name
    invocation.effects = member.effects
    return (member.context or invocation.spec.context)(invocation)


def _from_itself(invocation: Invocation, what: str) -> None:
    if not invocation.is_from_itself():
        raise _Poison(f"{what} from {invocation.caller or 'an ingress'}, not from itself")


def _answerer(implementation: Any, spec: FunctionSpec, handler: RequestReply) -> _Run:
    """What runs a call of ``handler``: its method, then the answer to the caller."""
    rpc = handler.rpc
    call_envelope, reply_type = rpc.call_envelope, rpc.reply
    name, effects = handler.name, handler.effects
    context = handler.context or spec.context
    method = getattr(implementation, name)

    def on_call(invocation: Invocation) -> Any:
        try:
            envelope: Any = call_envelope.FromString(invocation.message.value)
        except DecodeError as error:
            raise _undecodable(call_envelope, error) from None
        sender = invocation.sender
        if sender is None:
            raise _Poison(
                f"{handler.rpc.handler} returns a reply but the call has no caller to send it to"
            )
        deadline = envelope.deadline_millis
        if deadline and invocation.deployment.now_ms() >= deadline:
            # The caller has timed out: it would drop the reply, so running the call now
            # would only leave effects nobody accounts for (stock reserved for a cart that
            # gave up).
            log.warning(
                "%s: did not run a call to %s from %s: its caller's deadline passed before "
                "it arrived (correlation id %r)",
                invocation.address,
                name,
                invocation.caller,
                envelope.correlation_id,
            )
            return None
        invocation.member = name
        invocation.effects = effects
        invocation.answering = handler
        invocation.envelope = envelope
        try:
            outcome = method(context(invocation), envelope.request)
        except RpcError as error:
            # Declared or not: replies.answer fails the invocation for an undeclared one,
            # naming it and what the handler declares.
            replies.answer(invocation, handler, error, raised=True)
            return None
        deferred = invocation.deferred
        if deferred is not None and outcome is deferred:  # answered later
            # replies.answer's own case, taken here: 44 bytecodes less a deferral, without
            # which the deferred reply is over 1.1x of the hand-written one.
            replies.expire_at_deadline(invocation, deferred.id)
            return None
        if (
            type(outcome) is not reply_type  # the common case, checked at once
            and outcome is not None
            and not isinstance(outcome, (Message, replies.Deferred))
            and inspect.isawaitable(outcome)
        ):
            return answer_later(invocation, outcome)
        replies.answer(invocation, handler, outcome, raised=False)
        return None

    async def answer_later(invocation: Invocation, awaitable: Awaitable[Any]) -> None:
        """An ``async`` rpc method's outcome, awaited, then answered."""
        try:
            outcome = await awaitable
        except RpcError as error:
            replies.answer(invocation, handler, error, raised=True)
        else:
            replies.answer(invocation, handler, outcome, raised=False)

    return on_call


def _resume(
    resumes: dict[str, Callable[..., Any]], invocation: Invocation, completion: calls.Completion
) -> Any:
    """Run the continuation of a completed group: what it returned (an awaitable if async)."""
    continuation = completion.continuation
    context = _enter(invocation, continuation)
    outcomes, requests = completion.outcomes, completion.requests
    if continuation.is_join:
        args: list[Any] = [outcomes, requests]
    else:
        args = [outcomes[0], requests[0]]
    carries = continuation.carries
    if carries is not None:
        args.append(completion.carried if completion.carried is not None else carries())
    return resumes[continuation.name](context, *args)
