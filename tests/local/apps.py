"""Hand-written StateFun applications for the local runtime's tests: the plain SDK and a hand-built Manifest.

The protobuf messages are declared here as a FileDescriptorProto (the equivalent of a tiny
``demo.proto``), so they live in the default descriptor pool like a compiled ``_pb2`` module's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from statefun import (
    IntType,
    LongType,
    RequestReplyHandler,
    StatefulFunctions,
    StringType,
    ValueSpec,
    kafka_egress_message,
    make_protobuf_type,
    message_builder,
)
from statefun.request_reply_pb2 import FromFunction, ToFunction

from sfidl.local import codec
from sfidl.local.clock import VirtualClock
from sfidl.local.engine import Engine
from sfidl.local.ingress import message_value
from sfidl.local.records import Address
from sfidl.local.store import Incoming, Store
from sfidl.local.transport import InProcess
from sfidl.runtime.manifest import EgressManifest, IngressManifest, IoKind, Manifest

_F = descriptor_pb2.FieldDescriptorProto
_MESSAGES = {
    "Increment": [("by", _F.TYPE_INT32), ("note", _F.TYPE_STRING)],
    "Count": [("id", _F.TYPE_STRING), ("total", _F.TYPE_INT64)],
    "Greet": [("name", _F.TYPE_STRING)],
    "Timer": [
        ("label", _F.TYPE_STRING),
        ("token", _F.TYPE_STRING),
        ("delay_ms", _F.TYPE_INT64),
        ("cancel", _F.TYPE_BOOL),
    ],
    "Misbehave": [("what", _F.TYPE_STRING)],
}


def _declare() -> dict[str, Any]:
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName("sfidl_demo.proto")
    except KeyError:
        file = descriptor_pb2.FileDescriptorProto(
            name="sfidl_demo.proto", package="sfidl.demo", syntax="proto3"
        )
        for name, fields in _MESSAGES.items():
            message = file.message_type.add(name=name)
            for number, (field, kind) in enumerate(fields, start=1):
                message.field.add(
                    name=field, number=number, type=kind, label=_F.LABEL_OPTIONAL, json_name=field
                )
        pool.Add(file)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"sfidl.demo.{name}"))
        for name in _MESSAGES
    }


_classes = _declare()
Increment = _classes["Increment"]
Count = _classes["Count"]
Greet = _classes["Greet"]
Timer = _classes["Timer"]
Misbehave = _classes["Misbehave"]

INCREMENT = make_protobuf_type(Increment)
COUNT = make_protobuf_type(Count)
GREET = make_protobuf_type(Greet)
TIMER = make_protobuf_type(Timer)
MISBEHAVE = make_protobuf_type(Misbehave)

COUNTER = "demo/counter"
AUDIT = "demo/audit"
RELAY = "demo/relay"
TIMERS = "demo/timers"
BAD = "demo/bad"
COUNTS_EGRESS = "demo/counts"


class SdkApp:
    """A LocalApp over the SDK's RequestReplyHandler; ``requests`` records every ToFunction it was sent."""

    def __init__(self, functions: StatefulFunctions, manifest: Manifest) -> None:
        self.manifest = manifest
        self._handler = RequestReplyHandler(functions)
        self.requests: list[Any] = []

    async def handle(self, request: bytes) -> bytes:
        parsed = ToFunction()
        parsed.ParseFromString(request)
        self.requests.append(parsed)
        return await self._handler.handle_async(request)

    def batches(self, typename: str, id: str) -> list[int]:
        """The sizes of the invocation batches sent to one address (handshake retries included)."""
        return [
            len(r.invocation.invocations)
            for r in self.requests
            if f"{r.invocation.target.namespace}/{r.invocation.target.type}" == typename
            and r.invocation.target.id == id
        ]


MANIFEST = Manifest(
    namespace="demo",
    functions=(COUNTER, AUDIT, RELAY, TIMERS, BAD),
    ingresses=(IngressManifest("demo/increments", IoKind.KAFKA, "increments", COUNTER, Increment),),
    egresses=(EgressManifest(COUNTS_EGRESS, IoKind.KAFKA, "counts", Count),),
    endpoint="http://127.0.0.1:0/statefun",
)


def demo_functions() -> StatefulFunctions:
    functions = StatefulFunctions()

    @functions.bind(
        COUNTER,
        specs=[
            ValueSpec("total", LongType),
            ValueSpec("note", StringType, expire_after_write=timedelta(minutes=5)),
            ValueSpec("visits", IntType, expire_after_call=timedelta(minutes=10)),
        ],
    )
    def counter(ctx: Any, message: Any) -> None:
        increment = message.as_type(INCREMENT)
        total = (ctx.storage.total or 0) + increment.by
        ctx.storage.total = total
        ctx.storage.visits = (ctx.storage.visits or 0) + 1
        if increment.note:
            ctx.storage.note = increment.note
        ctx.send_egress(
            kafka_egress_message(
                COUNTS_EGRESS,
                "counts",
                Count(id=ctx.address.id, total=total),
                COUNT,
                key=ctx.address.id,
            )
        )
        ctx.send(
            message_builder(
                AUDIT,
                "all",
                value=Increment(by=increment.by, note=ctx.address.id),
                value_type=INCREMENT,
            )
        )

    @functions.bind(AUDIT, specs=[ValueSpec("sum", LongType), ValueSpec("callers", StringType)])
    def audit(ctx: Any, message: Any) -> None:
        ctx.storage.sum = (ctx.storage.sum or 0) + message.as_type(INCREMENT).by
        caller = ctx.caller
        ctx.storage.callers = (ctx.storage.callers or "") + (
            f"{caller.typename}/{caller.id};" if caller else "-;"
        )

    @functions.bind(RELAY)
    def relay(ctx: Any, message: Any) -> None:
        ctx.send(
            message_builder(
                COUNTER,
                message.as_type(INCREMENT).note,
                value=message.as_type(INCREMENT),
                value_type=INCREMENT,
            )
        )

    @functions.bind(TIMERS, specs=[ValueSpec("fired", StringType)])
    def timers(ctx: Any, message: Any) -> None:
        if message.is_type(GREET):
            ctx.storage.fired = (ctx.storage.fired or "") + message.as_type(GREET).name + ";"
            return
        timer = message.as_type(TIMER)
        if timer.cancel:
            ctx.cancel_delayed_message(timer.token)
        else:
            reminder = message_builder(
                TIMERS, ctx.address.id, value=Greet(name=timer.label), value_type=GREET
            )
            ctx.send_after(timedelta(milliseconds=timer.delay_ms), reminder, timer.token)

    @functions.bind(BAD, specs=[ValueSpec("n", IntType)])
    def bad(ctx: Any, message: Any) -> None:
        what = message.as_type(MISBEHAVE).what
        me = message_builder(BAD, ctx.address.id, value=Greet(name="x"), value_type=GREET)
        if message.is_type(GREET):
            return
        if what == "reuse_token":
            ctx.send_after(timedelta(seconds=5), me, "same")
            ctx.send_after(timedelta(seconds=5), me, "same")
        elif what == "token_once":
            ctx.send_after(timedelta(seconds=5), me, "once")
        elif what == "cancel_then_reuse":
            ctx.cancel_delayed_message("once")
            ctx.send_after(timedelta(seconds=5), me, "once")
        elif what == "negative_delay":
            ctx.send_after(timedelta(seconds=-1), me)
        elif what == "unknown_egress":
            ctx.send_egress(kafka_egress_message("demo/nope", "t", "v"))
        elif what == "unknown_function":
            ctx.send(message_builder("demo/nobody", "1", value=Greet(name="x"), value_type=GREET))
        elif what == "raise":
            raise RuntimeError("boom")

    return functions


def demo_app() -> SdkApp:
    return SdkApp(demo_functions(), MANIFEST)


class RawApp:
    """Answers every invocation with a fixed FromFunction after the handshake of one state ``x`` (an int)."""

    def __init__(self, reply: Any, typename: str = "io.statefun.types/int") -> None:
        self.manifest = Manifest(namespace="raw", functions=("raw/fn",))
        self._reply = reply
        self._typename = typename

    async def handle(self, request: bytes) -> bytes:
        parsed = ToFunction()
        parsed.ParseFromString(request)
        if not any(s.state_name == "x" for s in parsed.invocation.state):
            missing = FromFunction()
            missing.incomplete_invocation_context.missing_values.add(
                state_name="x", type_typename=self._typename
            )
            return missing.SerializeToString()
        return self._reply.SerializeToString()


def state_app(typename_of_x: Any) -> SdkApp:
    """One function ``raw/fn`` with one state ``x`` of the given SDK type (to change it between runs)."""
    functions = StatefulFunctions()

    @functions.bind("raw/fn", specs=[ValueSpec("x", typename_of_x)])
    def fn(ctx: Any, message: Any) -> None:
        ctx.storage.x = 1 if typename_of_x is IntType else "one"

    return SdkApp(functions, Manifest(namespace="raw", functions=("raw/fn",)))


def run_on(
    db: Path, app: Any, address: Address, message: Any = None, clock: VirtualClock | None = None
) -> dict[str, object]:
    """One run of the engine on the database ``db``: ``message`` (if any) to ``address``, then until
    quiet. Returns the address's live state values, decoded."""

    the_clock = clock or VirtualClock()

    async def run() -> dict[str, object]:
        store = Store(db)
        engine = Engine(app.manifest, InProcess(app, the_clock), store, the_clock)
        try:
            if message is not None:
                engine.enqueue([Incoming(address, None, message_value(message))])
            await engine.run_until_quiet()
            values = store.state(address, engine.clock.now_ms())
            return {name: codec.decode(*value) for name, value in values.items()}
        finally:
            await engine.close()
            store.close()

    return asyncio.run(run())


async def until(condition: Callable[[], bool], what: str, deadline_s: float = 30.0) -> None:
    """Poll ``condition`` until it holds; fail after ``deadline_s`` seconds rather than hang."""
    try:
        async with asyncio.timeout(deadline_s):
            while not condition():
                await asyncio.sleep(0.001)
    except TimeoutError:
        raise AssertionError(f"still waiting for {what} after {deadline_s:g} s") from None
