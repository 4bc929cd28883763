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

Each hand-written reference does the same work with plain ``context.send``s of the same
protobuf messages and the same user states (the deferring vault keeps its caller's
address in a state, as one would by hand). Each step's request bytes are captured once
from a real exchange, then replayed: the functions keep no state between requests, so
every iteration does the same work.

    python benchmarks/call_roundtrip.py [--iterations 2000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
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
from statefun.request_reply_pb2 import FromFunction  # noqa: E402

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
            ctx.state.hits += 1
            return pb.Answer(key=request.key, value=ctx.state.hits)

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
    # A clock that stands still: the replayed calls' deadlines never pass, so every
    # iteration runs the calls (a call past its caller's deadline would not run at all).
    app.use_clock(lambda: 1_700_000_000_000)
    return app


class HandApp:
    """The same exchanges with the plain SDK: request messages one way, answers the other."""

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
    check: Callable[[Sequence[Response], bool], None]


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


def check_call(results: Sequence[Response], sfidl: bool) -> None:
    """The replayed responses are the full call exchange (not, say, a handshake)."""
    first, second, third = results
    assert len(first.outgoing_messages) == 1 and len(second.outgoing_messages) == 1
    assert [m.state_name for m in third.state_mutations] == (
        ["last", "sfidl_runtime"] if sfidl else ["last"]
    )
    if sfidl:
        assert len(first.delayed_invocations) == 1
        assert third.delayed_invocations[0].is_cancellation_request


def check_deferred(results: Sequence[Response], sfidl: bool) -> None:
    first, deferred, completed, received = results
    assert len(first.outgoing_messages) == 1 and not deferred.outgoing_messages
    assert len(completed.outgoing_messages) == 1
    assert [m.state_name for m in received.state_mutations] == (
        ["last", "sfidl_runtime"] if sfidl else ["last"]
    )
    if sfidl:  # the cleanup at the deadline, set then cancelled
        assert len(deferred.delayed_invocations) == 1
        assert completed.delayed_invocations[0].is_cancellation_request


async def timed(handler: Any, requests: Sequence[bytes], iterations: int) -> list[float]:
    """Seconds per exchange for each step (summed over ``iterations``)."""
    totals = [0.0] * len(requests)
    handle = handler.handle_async
    for _ in range(iterations):
        for index, request in enumerate(requests):
            start = time.perf_counter()
            await handle(request)
            totals[index] += time.perf_counter() - start
    return [t / iterations for t in totals]


def measure(
    exchange: Exchange, variants: dict[str, Any], iterations: int, repeat: int
) -> dict[str, list[float]]:
    """Per variant: the median seconds of each step, then of the whole exchange."""
    replays = {}
    for name, app in variants.items():
        requests = captured(app, exchange)
        handler = app.request_reply_handler
        responses = [FromFunction.FromString(handler.handle_sync(r)) for r in requests]
        exchange.check([r.invocation_result for r in responses], name.startswith("sfidl"))
        replays[name] = (handler, requests)
    samples: dict[str, list[list[float]]] = {name: [] for name in variants}
    for _ in range(repeat):  # interleaved, so drift affects both alike
        for name, (handler, requests) in replays.items():
            samples[name].append(asyncio.run(timed(handler, requests, iterations)))
    steps = len(exchange.steps)
    return {
        name: [statistics.median(run[i] for run in runs) for i in range(steps)]
        + [statistics.median(sum(run) for run in runs)]
        for name, runs in samples.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pb, gen = compiled(Path(tmp))
        variants = {"sfidl": sfidl_app(pb, gen), "plain SDK sends": HandApp(pb)}
        print(
            f"Median of {args.repeat} runs x {args.iterations} iterations"
            " (µs in handle_async, perf_counter)"
        )
        for exchange in exchanges(pb):
            medians = measure(exchange, variants, args.iterations, args.repeat)
            reference = medians["plain SDK sends"][-1]
            print(f"\n{exchange.name}\n")
            print(f"| variant | {' | '.join(exchange.columns)} | whole | ratio |")
            print("|---|" + "---:|" * (len(exchange.columns) + 2))
            for name, values in medians.items():
                cells = " | ".join(f"{v * 1e6:.1f}" for v in values)
                print(f"| {name} | {cells} | {values[-1] / reference:.2f}x |")


if __name__ == "__main__":
    main()
