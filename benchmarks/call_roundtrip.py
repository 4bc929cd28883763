"""The CPU cost of one sfidl call round trip, next to the same exchange written with the plain SDK.

One round trip is three invocations through the SDK's ``RequestReplyHandler.handle_async``,
with real ``ToFunction``/``FromFunction`` bytes and the state the cluster would attach:

1. the caller handles ``Start``: it calls ``Store.get`` (sfidl: call envelope, timeout
   timer, pending call in hidden state);
2. the callee answers (sfidl: the reply envelope to the caller);
3. the caller handles the reply (sfidl: the continuation runs, the timer is cancelled).

The hand-written reference does the same with two plain ``context.send``s of the same
protobuf messages (request one way, answer the other) and the same user states. Each
step's request bytes are captured once from a real exchange, then replayed: the
functions keep no state between requests, so every iteration does the same work.

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
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from statefun import (  # noqa: E402
    IntType,
    RequestReplyHandler,
    StatefulFunctions,
    ValueSpec,
    make_protobuf_type,
    message_builder,
)
from statefun.request_reply_pb2 import FromFunction  # noqa: E402

from sfidl.compiler import compile_file  # noqa: E402
from tests.protocol import Driver, Envelope, forward, typed  # noqa: E402

IDL = """\
namespace bench.roundtrip;

message Start { string key = 1; }
message Ask { string key = 1; }
message Answer { string key = 1; int32 value = 2; }

function Store {
  state hits: int32 = 0;
  rpc get(Ask) returns Answer;
}

function Client {
  state last: int32 = 0;
  on ask(Start) calls Store.get -> got timeout 5s;
}

ingress starts: kafka topic "starts" of Start -> Client.ask;
"""

STORE = "bench.roundtrip/store"
CLIENT = "bench.roundtrip/client"
CALLER = (CLIENT, "u1")


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

    class Client(gen.Client):  # type: ignore[misc,name-defined]
        def ask(self, ctx: Any, message: Any) -> None:
            ctx.functions.store(message.key).get(pb.Ask(key=message.key))

        def got(self, ctx: Any, outcome: Any, request: Any) -> None:
            if isinstance(outcome, pb.Answer):
                ctx.state.last = outcome.value

    return gen.RoundtripApp(store=Store(), client=Client())


class HandApp:
    """The same exchange with the plain SDK: a request message, an answer message."""

    def __init__(self, pb: ModuleType) -> None:
        ask_type, answer_type = make_protobuf_type(pb.Ask), make_protobuf_type(pb.Answer)
        functions = StatefulFunctions()

        @functions.bind(CLIENT, [ValueSpec(name="last", type=IntType)])
        async def client(context: Any, message: Any) -> None:
            if message.is_type(answer_type):
                context.storage.last = message.as_type(answer_type).value
            else:
                key = message.as_type(make_protobuf_type(pb.Start)).key
                context.send(
                    message_builder(
                        target_typename=STORE,
                        target_id=key,
                        value=pb.Ask(key=key),
                        value_type=ask_type,
                    )
                )

        @functions.bind(STORE, [ValueSpec(name="hits", type=IntType)])
        async def store(context: Any, message: Any) -> None:
            request = message.as_type(ask_type)
            hits = (context.storage.hits or 0) + 1
            context.storage.hits = hits
            caller = context.caller
            context.send(
                message_builder(
                    target_typename=caller.typename,
                    target_id=caller.id,
                    value=pb.Answer(key=request.key, value=hits),
                    value_type=answer_type,
                )
            )

        self.request_reply_handler = RequestReplyHandler(functions)

    def handle_sync(self, request: bytes) -> bytes:
        return self.request_reply_handler.handle_sync(request)  # type: ignore[no-any-return]


def captured(app: Any, start: Any) -> list[bytes]:
    """The three requests of one round trip (after a first one that registers the states)."""
    driver = Driver(app)
    steps: list[bytes] = []
    for id in ("warm-up", "u1"):
        steps.clear()
        first = [Envelope(typed(start))]
        steps.append(driver.request(CLIENT, id, first))
        call = driver.invoke(CLIENT, id, *first)
        request = [forward(call, sender=(CLIENT, id))]
        steps.append(driver.request(STORE, "a", request))
        answer = driver.invoke(STORE, "a", *request)
        reply = [forward(answer, sender=(STORE, "a"))]
        steps.append(driver.request(CLIENT, id, reply))
        driver.invoke(CLIENT, id, *reply)
    return steps


def check(responses: Sequence[bytes], *, sfidl: bool) -> None:
    """The replayed responses are the full exchange (not, say, a handshake)."""
    first, second, third = (FromFunction.FromString(r).invocation_result for r in responses)
    assert len(first.outgoing_messages) == 1 and len(second.outgoing_messages) == 1
    assert [m.state_name for m in third.state_mutations] == (
        ["last", "sfidl_runtime"] if sfidl else ["last"]
    )
    if sfidl:
        assert len(first.delayed_invocations) == 1
        assert third.delayed_invocations[0].is_cancellation_request


async def timed(handler: Any, steps: Sequence[bytes], iterations: int) -> list[float]:
    """Seconds per round trip for each step (summed over ``iterations``)."""
    totals = [0.0, 0.0, 0.0]
    handle = handler.handle_async
    for _ in range(iterations):
        for index, step in enumerate(steps):
            start = time.perf_counter()
            await handle(step)
            totals[index] += time.perf_counter() - start
    return [t / iterations for t in totals]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pb, gen = compiled(Path(tmp))
        start = pb.Start(key="a")
        variants = {"sfidl call": sfidl_app(pb, gen), "plain SDK sends": HandApp(pb)}
        replays = {}
        for name, app in variants.items():
            steps = captured(app, start)
            handler = app.request_reply_handler
            check([handler.handle_sync(s) for s in steps], sfidl=name == "sfidl call")
            replays[name] = (handler, steps)

        samples: dict[str, list[list[float]]] = {name: [] for name in variants}
        for _ in range(args.repeat):  # interleaved, so drift affects both alike
            for name, (handler, steps) in replays.items():
                samples[name].append(asyncio.run(timed(handler, steps, args.iterations)))

    medians = {
        name: [statistics.median(run[i] for run in runs) for i in range(3)]
        + [statistics.median(sum(run) for run in runs)]
        for name, runs in samples.items()
    }
    reference = medians["plain SDK sends"]
    print(
        f"One call round trip, median of {args.repeat} runs x {args.iterations} iterations"
        " (µs in handle_async, perf_counter)\n"
    )
    print("| variant | caller sends | callee answers | caller receives | round trip | ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, values in medians.items():
        cells = " | ".join(f"{v * 1e6:.1f}" for v in values)
        print(f"| {name} | {cells} | {values[3] / reference[3]:.2f}x |")


if __name__ == "__main__":
    main()
