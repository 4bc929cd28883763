"""Fuzzing: whatever arrives, a function answers, and what it answers keeps StateFun's rules.

Batches of random and mutated messages (bytes of the right typename that are not that
type, envelopes of every route with fields scrambled, replies and timeouts of live calls
from the wrong sender, values without a value, unknown typenames) from random callers go
to every function of the test program through the SDK's RequestReplyHandler. Handlers
here never raise, so the invocation must never raise either: poison is dead-lettered. Every
response is checked against the rules whose breach fails the StateFun job. The HTTP
endpoint gets random and mutated bodies and never answers 500.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from statefun.kafka_egress_pb2 import KafkaProducerRecord
from statefun.request_reply_pb2 import FromFunction, TypedValue

from sfidl.runtime.http import web_app
from sfidl.wire import OCTET_STREAM
from sfidl.runtime.internal_pb2 import (
    CallTimeout,
    DeadLetter,
    ReplyExpired,
    RuntimeState,
    TimerFired,
)
from tests.protocol import Driver, Envelope, forward, typed
from tests.runtime.wire import CLIENT, DESK, FANNER, OTHER, RELAY, STORE, VAULT

FUNCTIONS = (STORE, OTHER, CLIENT, FANNER, VAULT, RELAY, DESK)
IDS = ("u1", "a", "b")
EGRESS_RECORDS = {
    ("test.calls", "dead"): "type.googleapis.com/io.statefun.sdk.egress.KafkaProducerRecord",
    ("test.calls", "log"): "type.googleapis.com/io.statefun.sdk.egress.KinesisEgressRecord",
}
FUZZ = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,  # the same examples on every run: a failure here is never flaky
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def calm(calls_out: Any, impls: ModuleType) -> ModuleType:
    """Implementations of the test program that never raise, whatever they are given."""
    import calls_pb2 as pb
    import calls_sfidl as gen

    class Store(gen.Store):
        def get(self, ctx: Any, request: Any) -> Any:
            ctx.state.hits = (ctx.state.hits + 1) % 1000
            if not request.key:
                raise gen.NotFoundError(pb.NotFound(key="", tried=ctx.state.hits))
            return pb.Answer(key=request.key, value=len(request.key))

    class Other(gen.Other):
        def peek(self, ctx: Any, request: Any) -> Any:
            if request.key == "x":
                raise gen.ForbiddenError(pb.Forbidden(why="x"))
            return pb.Peeked(text=request.key)

        def size(self, ctx: Any, request: Any) -> Any:
            return pb.Answer(key=request.key, value=len(request.key))

        def note(self, ctx: Any, message: Any) -> None:
            pass

    class Client(gen.Client):
        def ask(self, ctx: Any, message: Any) -> None:
            key = message.key or "k"
            ctx.functions.store(key).get(pb.Ask(key=key), carry=pb.Note(text=key))

        def both(self, ctx: Any, message: Any) -> None:
            key = message.key or "k"
            ctx.joins.joined((key, pb.Ask(key=key)), (key, pb.Ask(key=key)))

        def loop(self, ctx: Any, message: Any) -> None:
            ctx.functions.client(ctx.id).echo(pb.Ask(key=message.key))

        def measure(self, ctx: Any, message: Any) -> None:
            ctx.functions.other(message.key or "k").size(pb.Ask(key=message.key))

        def arm(self, ctx: Any, message: Any) -> None:
            if message.cancel and ctx.state.timer:
                ctx.timers.tick.cancel(gen.TimerId(ctx.state.timer))
                del ctx.state.timer
            elif not message.cancel:
                delay = timedelta(milliseconds=max(0, min(message.delay_ms, 10**9)))
                ctx.state.timer = ctx.timers.tick.after(delay, pb.Tick(label=message.label))

        def publish(self, ctx: Any, message: Any) -> None:
            ctx.egress.log.write(pb.Note(text=message.text), key="k")

        def echo(self, ctx: Any, request: Any) -> Any:
            return pb.Answer(key=request.key)

        def tick(self, ctx: Any, message: Any) -> None:
            del ctx.state.timer

        def got(self, ctx: Any, outcome: Any, request: Any, carried: Any) -> None:
            ctx.state.timer = ctx.state.timer  # touches state in a continuation

        def joined(self, ctx: Any, outcomes: Any, requests: Any) -> None:
            key = requests[0].key or "k"
            ctx.joins.joined((key, pb.Ask(key="again")), (key, pb.Ask(key="again")))

        def poke(self, ctx: Any, message: Any) -> None:
            ctx.functions.other(message.text or "k").note(message)

        def chain(self, ctx: Any, message: Any) -> None:
            ctx.functions.relay(message.key or "k").relay(pb.Ask(key=message.key))

        def open(self, ctx: Any, message: Any) -> None:
            ctx.functions.vault(message.vault or "k").open(pb.Ask(key=message.key))

        def chained(self, ctx: Any, outcome: Any, request: Any) -> None:
            pass

        def opened(self, ctx: Any, outcome: Any, request: Any) -> None:
            pass

        def sized(self, ctx: Any, outcome: Any, request: Any) -> None:
            pass

        def echoed(self, ctx: Any, outcome: Any, request: Any) -> None:
            pass

    class Fanner(gen.Fanner):
        def fan(self, ctx: Any, message: Any) -> None:
            for key in message.keys[:5]:
                ctx.functions.store(key or "k").get(pb.Ask(key=key))

        def gathered(self, ctx: Any, outcome: Any, request: Any) -> None:
            pass

    class Relay(impls.Relay):  # type: ignore[misc,name-defined]
        def relay(self, ctx: Any, request: Any) -> Any:
            return super().relay(ctx, pb.Ask(key=request.key or "k"))

    class Desk(impls.Desk):  # type: ignore[misc,name-defined]
        def work(self, ctx: Any, message: Any) -> None:
            super().work(ctx, pb.Start(key=message.key or "k"))

    module = ModuleType("calm")
    module.app = lambda: gen.CallsApp(  # type: ignore[attr-defined]
        store=Store(),
        other=Other(),
        client=Client(),
        vault=impls.Vault(),
        relay=Relay(),
        desk=Desk(),
        fanner=Fanner(),
    )
    module.pb = pb  # type: ignore[attr-defined]
    return module


class Conversation:
    """A driver holding live calls, joins and timers, and every message that went by."""

    def __init__(self, calm: ModuleType) -> None:
        pb = calm.pb
        self.driver = Driver(calm.app())
        self.seen: list[Envelope] = []
        user = (CLIENT, "u1")
        self.ingress(CLIENT, "u1", pb.Start(key="a"), pb.Pair(key="b"), pb.Loop(key="c"))
        self.ingress(CLIENT, "u1", pb.Measure(key="d"), pb.Arm(label="t", delay_ms=5))
        self.ingress(FANNER, "a", pb.Fan(keys=["a", "", "b"]))
        self.ingress(CLIENT, "u1", pb.Publish(text="p"), pb.Note(text="o"))
        # A deferred reply pending in a vault (answered or not), a chain, an exclusive desk
        # holding messages, and the self-messages they schedule.
        opened = self.deliver(CLIENT, "u1", Envelope(typed(pb.Open(vault="a", key="ring"))))
        self.deliver(VAULT, "a", forward(opened, sender=user))
        self.ingress(VAULT, "a", pb.Unlock(reply_id="0", value=1), pb.Unlock(reply_id="9"))
        chained = self.deliver(CLIENT, "u1", Envelope(typed(pb.Chain(key="a"))))
        self.deliver(RELAY, "a", forward(chained, sender=user))
        self.ingress(DESK, "a", pb.Start(key="a"), pb.Note(text="held"), pb.Arm(label="x"))
        self.deliver(DESK, "a", Envelope(typed(pb.DeskWaitCall(correlation_id="w")), user))
        self.seen.append(Envelope(typed(pb.Unlock(reply_id="1", value=2))))
        self.seen.append(Envelope(typed(ReplyExpired(reply="0")), (VAULT, "a")))
        self.seen.append(
            Envelope(typed(pb.DeskWaitCall(correlation_id="d", deadline_millis=2**62)), user)
        )
        first = self.driver.invoke(CLIENT, "u1", pb.Start(key="b"), caller=None)
        answered = self.deliver(STORE, "b", forward(first, sender=user))
        self.seen.append(forward(answered, sender=(STORE, "b")))  # a live reply, kept back
        self.seen += [
            Envelope(d.argument, user) for d in first.delayed_invocations if d.HasField("argument")
        ]
        self.seen.append(Envelope(typed(CallTimeout(group="0")), user))
        self.seen.append(Envelope(typed(TimerFired(timer="tick", token="sfidl.timer.9")), user))
        self.seen.append(Envelope(typed(RuntimeState(next_id=3)), user))

    def ingress(self, typename: str, id: str, *messages: Any) -> None:
        self.seen += [Envelope(typed(m)) for m in messages]
        self.deliver(typename, id, *[Envelope(typed(m)) for m in messages])

    def deliver(self, typename: str, id: str, *batch: Envelope) -> FromFunction.InvocationResponse:
        result = self.driver.invoke(typename, id, *batch)
        sender = (typename, id)
        self.seen += [
            forward(result, i, sender=sender) for i in range(len(result.outgoing_messages))
        ]
        self.seen += [  # the timeouts, expiries and timers it scheduled, from itself
            Envelope(d.argument, sender)
            for d in result.delayed_invocations
            if not d.is_cancellation_request
        ]
        return result


def mutations(data: bytes) -> st.SearchStrategy[bytes]:
    """``data`` truncated, with a byte changed, or with bytes inserted."""
    if not data:
        return st.binary(max_size=8)
    index = st.integers(0, len(data) - 1)
    return st.one_of(
        index.map(lambda i: data[:i]),
        st.tuples(index, st.integers(0, 255)).map(
            lambda p: data[: p[0]] + bytes([p[1]]) + data[p[0] + 1 :]
        ),
        st.tuples(index, st.binary(min_size=1, max_size=6)).map(
            lambda p: data[: p[0]] + p[1] + data[p[0] :]
        ),
    )


def arguments(seen: list[Envelope]) -> st.SearchStrategy[Envelope]:
    """A message as it could arrive: a real one, or one with its value, typename or caller off."""
    typenames = sorted({e.value.typename for e in seen}) + ["", "x/y", "io.statefun.types/int"]
    callers = st.one_of(
        st.none(),
        st.tuples(st.sampled_from(FUNCTIONS), st.sampled_from(IDS)),
        st.tuples(st.sampled_from(["a/b", "test.calls/nope"]), st.text(max_size=4)),
    )

    @st.composite
    def argument(draw: st.DrawFn) -> Envelope:
        real = draw(st.sampled_from(seen))
        value = TypedValue()
        value.CopyFrom(real.value)
        how = draw(st.sampled_from(["as is", "mutated", "random", "retyped", "no value"]))
        if how == "mutated":
            value.value = draw(mutations(real.value.value))
        elif how == "random":
            value.value = draw(st.binary(max_size=40))
        elif how == "retyped":
            value.typename = draw(st.sampled_from(typenames))
        elif how == "no value":
            value.has_value = False
            value.value = b""
        caller = real.caller if draw(st.booleans()) else draw(callers)
        return Envelope(value, caller)

    return argument()


def check_wire_rules(
    driver: Driver, typename: str, result: FromFunction.InvocationResponse
) -> None:
    """Nothing in ``result`` would make the StateFun runtime fail the job."""
    registered = driver.registered.get(typename, {})  # a function with no state registers none
    for mutation in result.state_mutations:
        assert mutation.state_name in registered
        if mutation.mutation_type == FromFunction.PersistedValueMutation.MODIFY:
            expected = registered[mutation.state_name].type_typename
            assert mutation.state_value.typename == expected
    for delayed in result.delayed_invocations:
        assert delayed.cancellation_token
        if not delayed.is_cancellation_request:
            assert delayed.delay_in_ms >= 0
            assert delayed.target.namespace and delayed.target.type and delayed.target.id
    for message in result.outgoing_messages:
        assert message.target.namespace and "/" not in message.target.type and message.target.id
    for egress in result.outgoing_egresses:
        key = (egress.egress_namespace, egress.egress_type)
        assert egress.argument.typename == EGRESS_RECORDS[key]


def pending_tokens(driver: Driver) -> Iterator[str]:
    for (typename, id), values in driver.state.items():
        if "sfidl_runtime" in values:
            state = RuntimeState.FromString(values["sfidl_runtime"].value)
            for group in state.pending.values():
                if group.timeout_token:
                    yield f"{typename}/{id}/{group.timeout_token}"
            for reply in state.replies.values():
                if reply.cleanup_token:
                    yield f"{typename}/{id}/{reply.cleanup_token}"


def test_random_batches_never_raise_and_keep_the_runtime_rules(calm: ModuleType) -> None:
    seed = Conversation(calm)

    @FUZZ
    @given(
        data=st.data(),
        target=st.sampled_from(FUNCTIONS),
        id=st.sampled_from(IDS),
    )
    def run(data: st.DataObject, target: str, id: str) -> None:
        driver = Driver(
            calm.app(),
            registered=dict(seed.driver.registered),
            state={k: dict(v) for k, v in seed.driver.state.items()},
        )
        batch = data.draw(st.lists(arguments(seed.seen), min_size=1, max_size=4))
        result = driver.invoke(target, id, *batch)
        check_wire_rules(driver, target, result)
        tokens = list(pending_tokens(driver))
        assert len(tokens) == len(set(tokens))
        for egress in result.outgoing_egresses:
            if egress.egress_type == "dead":
                record = KafkaProducerRecord.FromString(egress.argument.value)
                assert DeadLetter.FromString(record.value_bytes).reason

    run()


def test_random_http_bodies_never_get_a_500(calm: ModuleType) -> None:
    seed = Conversation(calm)
    app = seed.driver.app
    valid = [
        seed.driver.request(typename, id, [envelope])
        for envelope in seed.seen
        for typename in FUNCTIONS
        for id in IDS[:1]
    ]
    rng = random.Random(20240611)

    def body() -> bytes:
        kind = rng.randrange(3)
        if kind == 0:
            return rng.randbytes(rng.randrange(64))
        data = bytearray(rng.choice(valid))
        for _ in range(rng.randrange(1, 4)):
            index = rng.randrange(len(data))
            if kind == 1:
                data[index] = rng.randrange(256)
            else:
                data[index:index] = rng.randbytes(rng.randrange(1, 5))
        return bytes(data)

    async def run() -> None:
        async with TestClient(TestServer(web_app(app), host="127.0.0.1")) as client:

            async def post(data: bytes) -> int:
                headers = {"Content-Type": OCTET_STREAM}
                async with client.post("/statefun", data=data, headers=headers) as response:
                    await response.read()
                    return response.status

            for _ in range(400):
                data = body()
                status = await post(data)
                assert status in (200, 400, 404), data
            for data in valid:
                assert await post(data) == 200

    asyncio.run(asyncio.wait_for(run(), timeout=120))
