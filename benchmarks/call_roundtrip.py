"""The CPU cost of sfidl calls, next to the same exchanges written with the plain SDK.

Three exchanges, each a fixed sequence of invocations through the SDK's
``RequestReplyHandler.handle_async`` with real ``ToFunction``/``FromFunction`` bytes and
the state the cluster would attach:

- **call**: the caller handles ``Start`` and calls ``Store.get`` (call envelope, timeout
  timer, pending call in hidden state); the callee answers; the caller's continuation
  runs on the reply (the timer is cancelled).
- **deferred reply**: the caller calls ``Vault.open``; the vault defers (the pending reply
  in hidden state, a cleanup timer at the caller's deadline); an ``Unlock`` from an
  ingress completes it; the caller's continuation runs on the reply.
- **exclusive call**: the call exchange with an ``exclusive`` caller, which checks for
  held messages on every invocation and on the way out.

Two hand-written references on the plain SDK, timed in the same run:

- **hand-written, same semantics** (the reference the ratio is taken against): what one
  would write by hand for the same guarantees. The caller numbers its calls (a counter in
  state), sends the same call envelope (correlation id, request, deadline), keeps the
  pending call (callee, request, timeout token) in a protobuf state, sets the timeout as
  a delayed self-message and cancels it when the reply comes; the callee does not run a
  call past its deadline and answers with the same reply envelope; the continuation
  checks the reply comes from the callee asked and gets the request back. The deferring
  vault keeps the pending reply (caller, correlation id, deadline) in state with a
  cleanup timer at the deadline, and the exclusive caller holds other messages while a
  call is pending.
- **plain SDK sends**: the same protobuf messages and user states with bare
  ``context.send``s: no correlation, no timeout, nothing pending (the deferring vault
  keeps its caller's address in a state).

Each step's request bytes are captured once from a real exchange, then replayed: the
functions keep no state between requests, so every iteration does the same work. Each
step is timed in CPU time (``time.thread_time``: what this process spent, not the time
other processes on a busy machine took), over a loop of iterations; the figure is the
fastest of the interleaved rounds, and an exchange's the sum of its steps'. Beside it,
the Python bytecodes each step runs, counted once: repeatable where CPU time is not.

    python benchmarks/call_roundtrip.py [--iterations 500] [--repeat 15]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from google.protobuf.message import Message  # noqa: E402
from statefun import (  # noqa: E402
    IntType,
    RequestReplyHandler,
    StatefulFunctions,
    StringType,
    ValueSpec,
    make_protobuf_type,
    message_builder,
)
from statefun import Message as SdkMessage  # noqa: E402
from statefun import SdkAddress  # noqa: E402
from statefun.request_reply_pb2 import FromFunction, TypedValue  # noqa: E402

from sfidl.compiler import compile_file  # noqa: E402
from tests.protocol import Driver, Envelope, Response, forward, typed  # noqa: E402

IDL = """\
namespace bench.roundtrip;

message Start { string key = 1; }
message Wait { string key = 1; }
message Ask { string key = 1; }
message Answer { string key = 1; int32 value = 2; }
message Unlock { string key = 1; }

function Store {
  state hits: int32 = 0;
  rpc get(Ask) returns Answer;
}

function Vault {
  state waiting: string;
  rpc open(Ask) returns Answer;
  on unlock(Unlock) completes open;
}

function Client {
  state last: int32 = 0;
  on ask(Start) calls Store.get -> got timeout 5s;
  on wait(Wait) calls Vault.open -> opened timeout 5s;
}

exclusive function Solo {
  state last: int32 = 0;
  on ask(Start) calls Store.get -> got timeout 5s;
}

ingress starts: kafka topic "starts" of Start -> Client.ask;

// The hand-written reference's bookkeeping (sfidl keeps the same in its hidden state).
message PendingCall {
  string target_typename = 1;
  string target_id = 2;
  bytes request = 3;
  string timeout_token = 4;
  int64 timeout_millis = 5;
}
message HeldMessage {
  string typename = 1;
  bytes value = 2;
  string caller_typename = 3;
  string caller_id = 4;
}
message Calls {
  int64 next_id = 1;
  map<string, PendingCall> pending = 2;
  repeated HeldMessage held = 3;
}
message CallTimedOut { string correlation_id = 1; }
message OwedReply {
  string caller_typename = 1;
  string caller_id = 2;
  string correlation_id = 3;
  int64 deadline_millis = 4;
  string cleanup_token = 5;
}
message OwedReplies {
  int64 next_id = 1;
  map<string, OwedReply> replies = 2;
}
message ReplyDue { string reply = 1; }
"""

STORE = "bench.roundtrip/store"
VAULT = "bench.roundtrip/vault"
CLIENT = "bench.roundtrip/client"
SOLO = "bench.roundtrip/solo"


def compiled(folder: Path) -> tuple[ModuleType, ModuleType]:
    """``roundtrip_pb2`` and ``roundtrip_sfidl``, compiled from IDL into ``folder``."""
    source = folder / "roundtrip.sfidl"
    source.write_text(IDL)
    for name, data in compile_file(source).files.items():
        (folder / name).write_bytes(data)
    sys.path.insert(0, str(folder))
    return importlib.import_module("roundtrip_pb2"), importlib.import_module("roundtrip_sfidl")


def sfidl_app(pb: ModuleType, gen: ModuleType) -> Any:
    class Store(gen.Store):  # type: ignore[misc,name-defined]
        def get(self, ctx: Any, request: Any) -> Any:
            hits = ctx.state.hits + 1  # one read, one write: as the hand-written store
            ctx.state.hits = hits
            return pb.Answer(key=request.key, value=hits)

    class Vault(gen.Vault):  # type: ignore[misc,name-defined]
        def open(self, ctx: Any, request: Any) -> Any:
            later = ctx.defer()
            ctx.state.waiting = later.id
            return later

        def unlock(self, ctx: Any, message: Any) -> None:
            ctx.replies.open.reply(ctx.state.waiting, pb.Answer(key=message.key, value=1))
            del ctx.state.waiting

    class Client(gen.Client):  # type: ignore[misc,name-defined]
        def ask(self, ctx: Any, message: Any) -> None:
            ctx.functions.store(message.key).get(pb.Ask(key=message.key))

        def wait(self, ctx: Any, message: Any) -> None:
            ctx.functions.vault(message.key).open(pb.Ask(key=message.key))

        def got(self, ctx: Any, outcome: Any, request: Any) -> None:
            if isinstance(outcome, pb.Answer):
                ctx.state.last = outcome.value

        opened = got

    class Solo(gen.Solo):  # type: ignore[misc,name-defined]
        ask = Client.ask
        got = Client.got

    app = gen.RoundtripApp(store=Store(), vault=Vault(), client=Client(), solo=Solo())
    app.use_clock(now_ms)
    return app


def now_ms() -> int:
    """A clock that stands still: the replayed calls' deadlines never pass, so every
    iteration runs the calls (a call past its caller's deadline would not run at all)."""
    return 1_700_000_000_000


TIMEOUT = timedelta(seconds=5)


@dataclass(frozen=True)
class TimedOut:
    """The hand-written continuation's outcome of a call that timed out."""

    after: timedelta


class HandApp:
    """The same exchanges hand-written on the SDK with the same semantics as sfidl's.

    Correlation ids from a counter in state, the pending call (callee, request, timeout
    token) kept in a protobuf state until its reply or its timeout, the timeout a delayed
    self-message cancelled by the reply, the deadline carried in the call envelope and
    honoured by the callee; a deferred reply kept with its caller, correlation id and
    deadline, forgotten at the deadline; an exclusive caller holding other messages while
    a call is pending. Each state is read (decoded) once and written (encoded) once, and
    only when it changed, as a careful hand-writer would.
    """

    def __init__(self, pb: ModuleType) -> None:
        types = {cls: make_protobuf_type(cls) for cls in _messages(pb)}
        store_call, store_reply = types[pb.StoreGetCall], types[pb.StoreGetReply]
        vault_call, vault_reply = types[pb.VaultOpenCall], types[pb.VaultOpenReply]
        start_type, wait_type, unlock_type = types[pb.Start], types[pb.Wait], types[pb.Unlock]
        timed_out_type, due_type = types[pb.CallTimedOut], types[pb.ReplyDue]
        calls_type, owed_type = types[pb.Calls], types[pb.OwedReplies]
        functions = StatefulFunctions()

        def send(context: Any, typename: str, id: str, value: Message) -> None:
            context.send(
                message_builder(
                    target_typename=typename,
                    target_id=id,
                    value=value,
                    value_type=types[type(value)],
                )
            )

        def call(context: Any, calls: Any, typename: str, id: str, request: Message) -> None:
            correlation_id = str(calls.next_id)
            calls.next_id += 1
            envelope_type = pb.StoreGetCall if typename == STORE else pb.VaultOpenCall
            deadline = now_ms() + TIMEOUT // timedelta(milliseconds=1)
            envelope = envelope_type(
                correlation_id=correlation_id, request=request, deadline_millis=deadline
            )
            send(context, typename, id, envelope)
            token = f"timeout.{correlation_id}"
            address = context.address
            context.send_after(
                TIMEOUT,
                message_builder(
                    target_typename=address.typename,
                    target_id=address.id,
                    value=pb.CallTimedOut(correlation_id=correlation_id),
                    value_type=timed_out_type,
                ),
                token,
            )
            pending = calls.pending[correlation_id]
            pending.target_typename = typename
            pending.target_id = id
            pending.request = request.SerializeToString()
            pending.timeout_token = token
            pending.timeout_millis = TIMEOUT // timedelta(milliseconds=1)

        def continuation(context: Any, outcome: Any, request: Message) -> None:
            if isinstance(outcome, pb.Answer):
                context.storage.last = outcome.value

        def caller(exclusive: bool) -> Callable[[Any, Any], Coroutine[Any, Any, None]]:
            async def function(context: Any, message: Any) -> None:
                calls = context.storage.calls or pb.Calls()
                if message.is_type(store_reply) or message.is_type(vault_reply):
                    reply_type = store_reply if message.is_type(store_reply) else vault_reply
                    envelope = message.as_type(reply_type)
                    pending = calls.pending.get(envelope.correlation_id)
                    sender = context.caller
                    if (
                        pending is None
                        or sender is None
                        or (
                            (sender.typename, sender.id)
                            != (pending.target_typename, pending.target_id)
                        )
                    ):
                        return  # late after its timeout, duplicate or unknown: dropped
                    request = pb.Ask.FromString(pending.request)
                    context.cancel_delayed_message(pending.timeout_token)
                    del calls.pending[envelope.correlation_id]
                    which = envelope.WhichOneof("outcome")
                    continuation(context, getattr(envelope, which), request)
                elif message.is_type(timed_out_type):
                    correlation_id = message.as_type(timed_out_type).correlation_id
                    pending = calls.pending.pop(correlation_id, None)
                    if pending is None:
                        return  # the reply won the race
                    after = timedelta(milliseconds=pending.timeout_millis)
                    continuation(context, TimedOut(after), pb.Ask.FromString(pending.request))
                elif exclusive and (calls.pending or calls.held):
                    sender = context.caller
                    calls.held.add(
                        typename=message.typed_value.typename,
                        value=message.typed_value.value,
                        caller_typename=sender.typename if sender else "",
                        caller_id=sender.id if sender else "",
                    )
                elif message.is_type(start_type):
                    key = message.as_type(start_type).key
                    call(context, calls, STORE, key, pb.Ask(key=key))
                else:
                    key = message.as_type(wait_type).key
                    call(context, calls, VAULT, key, pb.Ask(key=key))
                context.storage.calls = calls
                if exclusive and calls.held and not calls.pending:
                    await release(context, calls, function)

            return function

        specs = [ValueSpec(name="last", type=IntType), ValueSpec(name="calls", type=calls_type)]
        functions.register(CLIENT, caller(exclusive=False), specs)
        functions.register(SOLO, caller(exclusive=True), specs)

        @functions.bind(STORE, [ValueSpec(name="hits", type=IntType)])
        async def store(context: Any, message: Any) -> None:
            envelope = message.as_type(store_call)
            if envelope.deadline_millis and now_ms() >= envelope.deadline_millis:
                return  # the caller stopped waiting
            hits = (context.storage.hits or 0) + 1
            context.storage.hits = hits
            answer = pb.Answer(key=envelope.request.key, value=hits)
            reply = pb.StoreGetReply(correlation_id=envelope.correlation_id, reply=answer)
            send(context, context.caller.typename, context.caller.id, reply)

        @functions.bind(
            VAULT,
            [ValueSpec(name="waiting", type=StringType), ValueSpec(name="owed", type=owed_type)],
        )
        async def vault(context: Any, message: Any) -> None:
            owed = context.storage.owed or pb.OwedReplies()
            if message.is_type(vault_call):
                envelope = message.as_type(vault_call)
                deadline = envelope.deadline_millis
                if deadline and now_ms() >= deadline:
                    return  # the caller stopped waiting
                reply_id = str(owed.next_id)
                owed.next_id += 1
                pending = owed.replies[reply_id]
                pending.caller_typename = context.caller.typename
                pending.caller_id = context.caller.id
                pending.correlation_id = envelope.correlation_id
                pending.deadline_millis = deadline
                if deadline:
                    pending.cleanup_token = f"reply.{reply_id}"
                    address = context.address
                    context.send_after(
                        timedelta(milliseconds=max(0, deadline - now_ms())),
                        message_builder(
                            target_typename=address.typename,
                            target_id=address.id,
                            value=pb.ReplyDue(reply=reply_id),
                            value_type=due_type,
                        ),
                        pending.cleanup_token,
                    )
                context.storage.waiting = reply_id
            elif message.is_type(unlock_type):
                key = message.as_type(unlock_type).key
                reply_id = context.storage.waiting
                pending = owed.replies.get(reply_id)
                if pending is None:
                    return  # completed already, expired or unknown
                del context.storage.waiting
                if not pending.deadline_millis or now_ms() < pending.deadline_millis:
                    reply = pb.VaultOpenReply(
                        correlation_id=pending.correlation_id, reply=pb.Answer(key=key, value=1)
                    )
                    send(context, pending.caller_typename, pending.caller_id, reply)
                if pending.cleanup_token:
                    context.cancel_delayed_message(pending.cleanup_token)
                del owed.replies[reply_id]
            else:
                if owed.replies.pop(message.as_type(due_type).reply, None) is None:
                    return  # completed before its deadline
            context.storage.owed = owed

        self.request_reply_handler = RequestReplyHandler(functions)

    def handle_sync(self, request: bytes) -> bytes:
        return self.request_reply_handler.handle_sync(request)  # type: ignore[no-any-return]


async def release(
    context: Any, calls: Any, function: Callable[[Any, Any], Coroutine[Any, Any, None]]
) -> None:
    """Run the first held message, as if it had just arrived (it runs the next one in turn)."""
    held = calls.held[0]
    del calls.held[0]
    context.storage.calls = calls
    caller = context.caller
    sender = None
    if held.caller_typename:
        namespace, name = held.caller_typename.split("/")
        sender = SdkAddress(namespace, name, held.caller_id, held.caller_typename)
    context._caller = sender
    typed_value = TypedValue(typename=held.typename, has_value=True, value=held.value)
    address = context.address
    await function(context, SdkMessage(address.typename, address.id, typed_value))
    context._caller = caller


def _messages(pb: ModuleType) -> list[type[Message]]:
    return [getattr(pb, name) for name in pb.DESCRIPTOR.message_types_by_name]


class PlainApp:
    """The same exchanges with plain SDK sends: request messages one way, answers the other."""

    def __init__(self, pb: ModuleType) -> None:
        ask_type, answer_type = make_protobuf_type(pb.Ask), make_protobuf_type(pb.Answer)
        start_type, wait_type = make_protobuf_type(pb.Start), make_protobuf_type(pb.Wait)
        unlock_type = make_protobuf_type(pb.Unlock)
        functions = StatefulFunctions()

        def send(context: Any, typename: str, id: str, value: Message, tpe: Any) -> None:
            context.send(
                message_builder(target_typename=typename, target_id=id, value=value, value_type=tpe)
            )

        async def client(context: Any, message: Any) -> None:
            if message.is_type(answer_type):
                context.storage.last = message.as_type(answer_type).value
            elif message.is_type(start_type):
                key = message.as_type(start_type).key
                send(context, STORE, key, pb.Ask(key=key), ask_type)
            else:
                key = message.as_type(wait_type).key
                send(context, VAULT, key, pb.Ask(key=key), ask_type)

        functions.register(CLIENT, client, [ValueSpec(name="last", type=IntType)])
        functions.register(SOLO, client, [ValueSpec(name="last", type=IntType)])

        @functions.bind(STORE, [ValueSpec(name="hits", type=IntType)])
        async def store(context: Any, message: Any) -> None:
            request = message.as_type(ask_type)
            hits = (context.storage.hits or 0) + 1
            context.storage.hits = hits
            caller = context.caller
            answer = pb.Answer(key=request.key, value=hits)
            send(context, caller.typename, caller.id, answer, answer_type)

        @functions.bind(VAULT, [ValueSpec(name="waiting", type=StringType)])
        async def vault(context: Any, message: Any) -> None:
            if message.is_type(ask_type):
                caller = context.caller
                context.storage.waiting = f"{caller.typename} {caller.id}"
                return
            key = message.as_type(unlock_type).key
            typename, id = context.storage.waiting.split(" ", 1)
            send(context, typename, id, pb.Answer(key=key, value=1), answer_type)
            del context.storage.waiting

        self.request_reply_handler = RequestReplyHandler(functions)

    def handle_sync(self, request: bytes) -> bytes:
        return self.request_reply_handler.handle_sync(request)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Step:
    """One invocation of an exchange: its target, and what it is given."""

    target: str  # a typename; its id is the exchange's for callers, "a" for callees
    caller: bool  # whether the target is the caller (whose id varies per capture)
    fresh: Message | None = None  # a message from an ingress, or else:
    after: int = -1  # forward the first outgoing message of step ``after``


@dataclass(frozen=True)
class Exchange:
    name: str
    steps: tuple[Step, ...]
    columns: tuple[str, ...]
    check: Callable[[Sequence[Response], str], None]


def exchanges(pb: ModuleType) -> tuple[Exchange, ...]:
    def call(caller: str) -> tuple[Step, ...]:
        return (
            Step(caller, True, fresh=pb.Start(key="a")),
            Step(STORE, False, after=0),
            Step(caller, True, after=1),
        )

    return (
        Exchange(
            "call",
            call(CLIENT),
            ("caller sends", "callee answers", "caller receives"),
            check_call,
        ),
        Exchange(
            "deferred reply",
            (
                Step(CLIENT, True, fresh=pb.Wait(key="a")),
                Step(VAULT, False, after=0),
                Step(VAULT, False, fresh=pb.Unlock(key="a")),
                Step(CLIENT, True, after=2),
            ),
            ("caller sends", "callee defers", "completion answers", "caller receives"),
            check_deferred,
        ),
        Exchange(
            "exclusive call",
            call(SOLO),
            ("caller sends", "callee answers", "caller receives"),
            check_call,
        ),
    )


def captured(app: Any, exchange: Exchange) -> list[bytes]:
    """The requests of one exchange (after a first one that registers the states)."""
    driver = Driver(app)
    requests: list[bytes] = []
    for id in ("warm-up", "u1"):
        requests.clear()
        results: list[Response] = []
        for step in exchange.steps:
            target_id = id if step.caller else "a"
            if step.fresh is not None:
                batch = [Envelope(typed(step.fresh))]
            else:
                source = exchange.steps[step.after]
                sender = (source.target, id if source.caller else "a")
                batch = [forward(results[step.after], sender=sender)]
            requests.append(driver.request(step.target, target_id, batch))
            results.append(driver.invoke(step.target, target_id, *batch))
    return requests


def check_call(results: Sequence[Response], variant: str) -> None:
    """The replayed responses are the full call exchange (not, say, a handshake)."""
    first, second, third = results
    assert len(first.outgoing_messages) == 1 and len(second.outgoing_messages) == 1
    assert [m.state_name for m in third.state_mutations] == ["last", *BOOKKEEPING[variant]]
    if variant != PLAIN:  # the timeout, set then cancelled
        assert len(first.delayed_invocations) == 1
        assert third.delayed_invocations[0].is_cancellation_request


def check_deferred(results: Sequence[Response], variant: str) -> None:
    first, deferred, completed, received = results
    assert len(first.outgoing_messages) == 1 and not deferred.outgoing_messages
    assert len(completed.outgoing_messages) == 1
    assert [m.state_name for m in received.state_mutations] == ["last", *BOOKKEEPING[variant]]
    if variant != PLAIN:  # the call's timeout and the cleanup at the deadline, set then cancelled
        assert len(first.delayed_invocations) == 1 and len(deferred.delayed_invocations) == 1
        assert completed.delayed_invocations[0].is_cancellation_request
        assert received.delayed_invocations[0].is_cancellation_request


SFIDL, HAND, PLAIN = "sfidl", "hand-written, same semantics", "plain SDK sends"
# The state each variant keeps its pending calls in, beside the user's own.
BOOKKEEPING = {SFIDL: ["sfidl_runtime"], HAND: ["calls"], PLAIN: []}


def variants(pb: ModuleType, gen: ModuleType) -> dict[str, Any]:
    """The three implementations of the exchanges, by name: sfidl's first, then the references."""
    return {SFIDL: sfidl_app(pb, gen), HAND: HandApp(pb), PLAIN: PlainApp(pb)}


async def timed(handler: Any, requests: Sequence[bytes], iterations: int) -> list[float]:
    """CPU seconds of each step, per iteration of a loop of ``iterations``."""
    handle = handler.handle_async
    seconds = []
    for request in requests:
        start = time.thread_time()
        for _ in range(iterations):
            await handle(request)
        seconds.append((time.thread_time() - start) / iterations)
    return seconds


def bytecodes(handler: Any, request: bytes) -> int:
    """The Python bytecodes one ``handle_async`` of ``request`` runs (the SDK's, sfidl's and
    the application's alike): the same on every run, where CPU time moves with the machine's
    load. Work in C (protobuf, builtins) is not counted."""
    count = 0

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal count
        frame.f_trace_opcodes = True
        frame.f_trace_lines = False
        if event == "opcode":
            count += 1
        return trace

    async def once() -> None:
        sys.settrace(trace)
        try:
            await handler.handle_async(request)
        finally:
            sys.settrace(None)

    asyncio.run(once())
    return count


def measure(
    exchange: Exchange, variants: dict[str, Any], iterations: int, repeat: int
) -> tuple[dict[str, list[float]], dict[str, list[int]]]:
    """Per variant: the fastest CPU seconds of each step, then their sum (the exchange);
    and the bytecodes of each step, then their sum."""
    replays = {}
    counted = {}
    for name, app in variants.items():
        requests = captured(app, exchange)
        handler = app.request_reply_handler
        responses = [FromFunction.FromString(handler.handle_sync(r)) for r in requests]
        exchange.check([r.invocation_result for r in responses], name)
        replays[name] = (handler, requests)
        counts = [bytecodes(handler, r) for r in requests]
        counted[name] = counts + [sum(counts)]
    samples: dict[str, list[list[float]]] = {name: [] for name in variants}
    for _ in range(repeat):  # interleaved, so drift affects both alike
        for name, (handler, requests) in replays.items():
            samples[name].append(asyncio.run(timed(handler, requests, iterations)))
    steps = len(exchange.steps)
    fastest = {
        name: [min(run[i] for run in runs) for i in range(steps)] for name, runs in samples.items()
    }
    return {name: values + [sum(values)] for name, values in fastest.items()}, counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pb, gen = compiled(Path(tmp))
        apps = variants(pb, gen)
        print(
            f"Fastest of {args.repeat} interleaved rounds x {args.iterations} iterations"
            " (µs of CPU time in handle_async, per step);"
            f" load average {os.getloadavg()[0]:.1f} at the start"
        )
        for exchange in exchanges(pb):
            medians, counted = measure(exchange, apps, args.iterations, args.repeat)
            hand, plain = medians[HAND][-1], medians[PLAIN][-1]
            print(f"\n{exchange.name}\n")
            print(
                f"| variant | {' | '.join(exchange.columns)} | whole"
                " | ratio to hand-written | ratio to plain sends |"
            )
            print("|---|" + "---:|" * (len(exchange.columns) + 3))
            for name, values in medians.items():
                cells = " | ".join(f"{v * 1e6:.1f}" for v in values)
                print(
                    f"| {name} | {cells} | {values[-1] / hand:.2f}x | {values[-1] / plain:.2f}x |"
                )
            print(f"\nPython bytecodes per step (repeatable: C work is not counted)\n")
            print(f"| variant | {' | '.join(exchange.columns)} | whole | ratio to hand-written |")
            print("|---|" + "---:|" * (len(exchange.columns) + 2))
            for name, counts in counted.items():
                cells = " | ".join(str(n) for n in counts)
                print(f"| {name} | {cells} | {counts[-1] / counted[HAND][-1]:.2f}x |")
        print(f"\nLoad average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
