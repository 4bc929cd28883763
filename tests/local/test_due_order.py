"""Messages to an address are delivered in the order they became due: a delayed message at its
fire time, any other at the time it was sent, across restarts however long the downtime."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from types import ModuleType
from typing import Any

from statefun.request_reply_pb2 import FromFunction, ToFunction

from sfidl.local.clock import VirtualClock
from sfidl.local.engine import Engine, unpack
from sfidl.local.ingress import message_value
from sfidl.local.records import Address
from sfidl.local.store import Incoming, Store
from sfidl.local.transport import InProcess
from sfidl.runtime.internal_pb2 import CallTimeout
from tests.local.apps import TIMERS, Greet, Timer, demo_app, run_on

TIMEOUT = "type.googleapis.com/" + CallTimeout.DESCRIPTOR.full_name
CALLEE = "test.local_calls/callee"
CALLER = "test.local_calls/caller"


def test_a_delayed_message_goes_before_a_message_sent_after_its_fire_time(tmp_path: Path) -> None:
    db, clock, timers = tmp_path / "db.sqlite", VirtualClock(), Address.of(TIMERS, "t")
    assert run_on(db, demo_app(), timers, Timer(label="timer", delay_ms=5_000), clock) == {}
    clock.set(clock.now_ms() + 10_000)
    # Down for 10 s: the greeting is queued at +10 s, before the restarted engine fires the
    # timer that was due at +5 s.
    assert run_on(db, demo_app(), timers, Greet(name="late"), clock) == {"fired": "timer;late;"}


class Killed(BaseException):
    """The process dies."""


def test_a_reply_made_before_the_deadline_wins_over_the_timeout_after_a_long_downtime(
    tmp_path: Path, calls: ModuleType
) -> None:
    """The callee answers a call it got before the caller's deadline, but its batch commits
    after the timeout was queued at the caller; then the runtime dies and stays down far longer
    than the call timeout. After the restart the reply, due when the callee ran, goes first."""
    db, clock = tmp_path / "db.sqlite", VirtualClock()
    asked = clock.now_ms()
    app = calls.app()
    caller_invoked, callee_committed = asyncio.Event(), asyncio.Event()

    class Choreography(InProcess):
        engine: Engine

        async def call(self, target: Address, request: bytes) -> bytes:
            typenames = {
                i.argument.typename for i in ToFunction.FromString(request).invocation.invocations
            }
            if target.typename == CALLEE and clock.now_ms() == asked:
                response = await super().call(target, request)  # answered in time...
                if FromFunction.FromString(response).HasField("incomplete_invocation_context"):
                    return response  # (the state handshake, retried at once)
                clock.set(asked + 7_000)  # ...but slow to commit: the caller's deadline passes
                self.engine.wake()  # the engine queues the due timeout at the caller meanwhile
                await caller_invoked.wait()
                return response
            if target.typename == CALLER and TIMEOUT in typenames:
                caller_invoked.set()
                await callee_committed.wait()  # the reply is queued behind the timeout
                raise Killed
            return await super().call(target, request)

    def committed(address: Address, batch: Any) -> None:
        if address.typename == CALLEE:
            callee_committed.set()

    async def first_run() -> None:
        store = Store(db)
        transport = Choreography(app, clock)
        engine = transport.engine = Engine(app.manifest, transport, store, clock)
        engine.delivery_observers.append(committed)
        try:
            engine.enqueue(
                [Incoming(Address.of(CALLER, "c"), None, message_value(calls.pb.Start(key="a")))]
            )
            await engine.run_until_quiet()
        finally:
            await engine.close()
            await transport.close()
            store.close()

    try:
        asyncio.run(asyncio.wait_for(first_run(), 30))
    except Killed:
        pass
    else:
        raise AssertionError("the first run was not killed")
    with sqlite3.connect(db) as connection:
        queued = [
            unpack(bytes(a))[0]
            for (a,) in connection.execute(
                "SELECT argument FROM inbox WHERE fn = ? ORDER BY seq", (CALLER,)
            )
        ]
    assert queued == [
        "type.googleapis.com/sfidl.v1.CallTimeout",
        "type.googleapis.com/test.local_calls.CalleeGetReply",
    ]
    clock.set(asked + 3_600_000)  # down for an hour, the call timeout is 5 s
    state = run_on(db, calls.app(), Address.of(CALLER, "c"), None, clock)
    outcomes = list(state["seen"].outcomes)  # type: ignore[attr-defined]
    assert outcomes == [f"answer a from {asked} at {asked + 3_600_000}"]
