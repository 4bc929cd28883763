"""sfidl calls on the Harness with injected faults: every Timeout branch and late-reply drop, end to end.

The application is ``calls_local.sfidl`` (tests/local/calls_impls.py): Caller.ask calls
Callee.get with a 5 s timeout and notes each outcome, with ``ctx.now``, in its ``seen`` state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from types import ModuleType
from typing import Any

import pytest

from sfidl.local import codec
from sfidl.local.engine import unpack
from sfidl.local.errors import LocalRuntimeError
from sfidl.local.ingress import message_value
from sfidl.local.records import Address
from sfidl.local.run import LocalRuntime, RunOptions
from sfidl.local.store import Incoming, Queued
from sfidl.testing import Harness

START = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
CALLEE = "test.local_calls/callee"
CALLER = "test.local_calls/caller"


def at(delta: timedelta = timedelta(0)) -> int:
    """The epoch milliseconds of ``START + delta``, as the application notes times."""
    return int((START + delta).timestamp() * 1000)


@pytest.fixture
def pb(calls: ModuleType) -> ModuleType:
    """calls_local_pb2."""
    return calls.pb


@pytest.fixture
def h(calls: ModuleType) -> Iterator[Harness]:
    with Harness(calls.app(), start=START) as harness:
        yield harness


def seen(h: Harness, id: str = "c") -> list[str]:
    value: Any = h.state(CALLER, id, "seen")
    return list(value.outcomes)


def ask(h: Harness, key: str, id: str = "c") -> None:
    import calls_local_pb2 as pb  # importable once the calls fixture compiled it

    h.send(CALLER, id, pb.Start(key=key))
    h.run_until_quiet()


def test_without_faults_the_answer_comes_at_once(h):
    ask(h, "k")
    assert seen(h) == [f"answer k from {at()} at {at()}"]


def test_a_slow_callee_makes_the_caller_time_out_and_the_late_call_is_not_run(h, pb, caplog):
    h.slow(CALLEE, timedelta(seconds=10))
    ask(h, "k")
    assert seen(h) == []
    assert [(f.action, f.target, f.caller, f.typename.rsplit(".", 1)[1]) for f in h.faulted] == [
        ("delayed", Address.of(CALLEE, "k"), Address.of(CALLER, "c"), "CalleeGetCall")
    ]

    h.advance(timedelta(seconds=5))
    assert seen(h) == [f"timeout after 0:00:05 at {at(timedelta(seconds=5))}"]
    assert h.state(CALLEE, "k", "asked") == 0  # the call has not even arrived

    with caplog.at_level("WARNING", logger="sfidl.runtime"):
        h.advance(timedelta(seconds=5))
    # It arrives after its caller's deadline: not run, so no effect and no reply.
    assert h.state(CALLEE, "k", "asked") == 0
    assert not [d for d in h.sent if isinstance(d.value, pb.CalleeGetReply)]
    assert "deadline passed before it arrived" in caplog.text
    assert len(seen(h)) == 1


def test_a_slow_reply_times_out_the_same_way(h, pb, caplog):
    h.slow(CALLER, timedelta(seconds=6), message=pb.CalleeGetReply)
    ask(h, "k")
    assert h.state(CALLEE, "k", "asked") == 1
    with caplog.at_level("WARNING", logger="sfidl.runtime"):
        h.advance(timedelta(seconds=6))
    assert seen(h) == [f"timeout after 0:00:05 at {at(timedelta(seconds=5))}"]
    assert "dropped a reply" in caplog.text


def test_a_slow_callee_within_the_timeout_answers_late_but_in_time(h):
    h.slow(CALLEE, timedelta(seconds=3))
    ask(h, "k")
    h.advance(timedelta(seconds=10))
    three = at(timedelta(seconds=3))
    assert seen(h) == [f"answer k from {three} at {three}"]


def test_a_silent_callee_never_answers(h):
    with h.silence(CALLEE, id="k"):
        ask(h, "k")
        ask(h, "other")
        h.advance(timedelta(hours=1))
    assert seen(h) == [
        f"answer other from {at()} at {at()}",
        f"timeout after 0:00:05 at {at(timedelta(seconds=5))}",
    ]
    assert h.state(CALLEE, "k", "asked") == 0
    assert [f.action for f in h.faulted] == ["dropped"]


def test_losing_one_call_times_out_that_call_only(h):
    h.lose(CALLEE)
    ask(h, "k")
    ask(h, "k")
    h.advance(timedelta(seconds=5))
    assert seen(h) == [
        f"answer k from {at()} at {at()}",
        f"timeout after 0:00:05 at {at(timedelta(seconds=5))}",
    ]
    assert h.state(CALLEE, "k", "asked") == 1


def test_a_lost_reply_is_a_timeout_although_the_call_took_effect(h, pb):
    h.lose(CALLER, message=pb.CalleeGetReply)
    ask(h, "k")
    h.advance(timedelta(seconds=5))
    assert h.state(CALLEE, "k", "asked") == 1
    assert seen(h) == [f"timeout after 0:00:05 at {at(timedelta(seconds=5))}"]


def test_a_one_way_send_can_be_lost(h, pb):
    h.lose(CALLEE, message=pb.Poke)
    for _ in range(2):
        h.send(CALLER, "c", pb.Poke(key="k"))
    h.run_until_quiet()
    assert list(h.state(CALLEE, "k", "pokes").outcomes) == ["k"]


def test_a_deferred_reply_completed_in_time_answers_on_the_virtual_clock(h, pb):
    h.send(CALLER, "c", pb.Wait(key="k"))
    h.run_until_quiet()
    assert h.state(CALLEE, "k", "deadline") == at(timedelta(seconds=5))  # the caller's, virtual
    h.advance(timedelta(seconds=2))
    h.send(CALLEE, "k", pb.Release())
    h.run_until_quiet()
    two = at(timedelta(seconds=2))
    assert seen(h) == [f"answer released from {two} at {two}"]
    assert list(h.state(CALLEE, "k", "pokes").outcomes) == ["released: True"]


def test_a_deferred_reply_completed_after_the_callers_deadline_is_never_sent(h, pb):
    h.send(CALLER, "c", pb.Wait(key="k"))
    h.run_until_quiet()
    h.advance(timedelta(seconds=6))
    h.send(CALLEE, "k", pb.Release())
    h.run_until_quiet()
    assert seen(h) == [f"timeout after 0:00:05 at {at(timedelta(seconds=5))}"]
    assert list(h.state(CALLEE, "k", "pokes").outcomes) == ["released: False"]
    assert not [d for d in h.sent if isinstance(d.value, pb.CalleeLaterReply)]


def test_a_deferred_reply_delivered_late_is_dropped(h, pb, caplog):
    h.slow(CALLER, timedelta(seconds=10), message=pb.CalleeLaterReply)
    h.send(CALLER, "c", pb.Wait(key="k"))
    h.run_until_quiet()
    h.advance(timedelta(seconds=1))
    h.send(CALLEE, "k", pb.Release())
    h.run_until_quiet()
    assert list(h.state(CALLEE, "k", "pokes").outcomes) == ["released: True"]
    with caplog.at_level("WARNING", logger="sfidl.runtime"):
        h.advance(timedelta(seconds=10))
    assert seen(h) == [f"timeout after 0:00:05 at {at(timedelta(seconds=5))}"]
    assert "dropped a reply" in caplog.text


def test_handlers_read_the_virtual_clock(h):
    h.advance(timedelta(days=3))
    ask(h, "k")
    three_days = at(timedelta(days=3))
    assert seen(h) == [f"answer k from {three_days} at {three_days}"]


def test_a_state_never_written_reads_as_its_declared_default(h, pb):
    assert h.state(CALLER, "nobody", "seen") == pb.Seen()
    assert h.state(CALLER, "nobody", "label") == "none"
    assert h.state(CALLER, "nobody", "ratio") == 0.5
    assert h.state(CALLEE, "nobody", "asked") == 0
    assert h.state(CALLER, "nobody", "sfidl_runtime") is None  # the hidden state: as stored
    # A default message is a new one each time: changing it changes nothing.
    h.state(CALLER, "nobody", "seen").outcomes.append("x")
    assert h.state(CALLER, "nobody", "seen") == pb.Seen()


def test_a_deleted_or_expired_state_reads_as_its_default_again(h, pb):
    h.send(CALLER, "c", pb.Poke(key="k"))
    h.run_until_quiet()
    assert h.state(CALLER, "c", "label") == "k"
    h.advance(timedelta(minutes=1))
    assert h.state(CALLER, "c", "label") == "none"


def test_a_state_the_function_does_not_declare_is_a_clear_error(h):
    with pytest.raises(LocalRuntimeError, match=r"caller declares no state 'asked'.*seen, label"):
        h.state(CALLER, "c", "asked")
    with pytest.raises(LocalRuntimeError, match="unknown function type 'test.local_calls/nobody'"):
        h.state("test.local_calls/nobody", "c", "seen")


def test_under_the_harness_virtual_time_stands_still_while_a_handler_awaits(h):
    # The callee sleeps 50 ms of real time before answering; the caller's 5 s timeout is
    # virtual, so it answers in time. A callee late in virtual time is what h.slow makes.
    ask(h, "nap")
    assert seen(h) == [f"answer nap from {at()} at {at()}"]
    assert h.now == START


def test_under_the_real_clock_an_async_callee_sleeping_past_the_timeout_times_out_the_caller(
    calls, pb, tmp_path, caplog
):
    """``sfidl run`` (wall clock): while the callee's invocation awaits, the engine fires the
    caller's timeout and runs its continuation; the reply that comes after is dropped.

    The timeout is long enough for the call to reach the callee before its deadline on a
    loaded machine (with 50 ms it sometimes did not, and the callee rightly skipped the
    work); the gate keeps the callee awaiting past it however long it is."""

    async def scenario() -> tuple[list[str], int]:
        gate = asyncio.Event()
        caller = calls.Caller(timeout=timedelta(seconds=1))
        app = calls.app(calls.Callee(gate), caller)
        options = RunOptions(
            db=tmp_path / "local.sqlite", port=None, egress_port=None, egress_stdout=False
        )
        runtime = LocalRuntime(app, options)
        await runtime.start()
        replied = asyncio.Event()

        def delivered(target: Address, batch: Sequence[Queued]) -> None:
            typenames = [unpack(q.argument)[0] for q in batch]
            if target.typename == CALLER and any(t.endswith("Reply") for t in typenames):
                replied.set()

        runtime.engine.delivery_observers.append(delivered)
        running = asyncio.create_task(runtime.run())
        try:
            start = pb.Start(key="wait")
            runtime.engine.enqueue([Incoming(Address.of(CALLER, "c"), None, message_value(start))])
            async with asyncio.timeout(30):
                await caller.timed_out.wait()  # the callee still awaits its gate
            gate.set()
            async with asyncio.timeout(30):
                await replied.wait()
            store, now = runtime.engine.store, runtime.engine.clock.now_ms()
            seen = pb.Seen.FromString(store.state(Address.of(CALLER, "c"), now)["seen"][1])
            asked = store.state(Address.of(CALLEE, "wait"), now)["asked"]
        finally:
            runtime.stop()
            await running
            await runtime.close()
        return [line.split(" at ")[0] for line in seen.outcomes], int(codec.decode(*asked))

    with caplog.at_level("WARNING", logger="sfidl.runtime"):
        outcomes, asked = asyncio.run(scenario())
    assert outcomes == ["timeout after 0:00:01"]
    assert asked == 1
    assert "dropped a reply" in caplog.text
