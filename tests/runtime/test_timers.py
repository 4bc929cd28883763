"""Declared timers: delayed self-messages with unique cancellation tokens, and their cancellation."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from statefun import StringType
from statefun.request_reply_pb2 import FromFunction

from sfidl.runtime.internal_pb2 import RuntimeState, TimerFired
from tests.protocol import Driver, Envelope, decode
from tests.runtime.wire import CLIENT, STORE, delayed, hidden

STATE_TIMER = "timer"


@pytest.fixture
def pb(calls_out: Any) -> ModuleType:
    import calls_pb2

    return calls_pb2


def stored_timer(driver: Driver) -> str | None:
    value = driver.state.get((CLIENT, "u1"), {}).get(STATE_TIMER)
    return None if value is None else str(StringType.serializer().deserialize(value.value))


def test_timer_after_sends_a_delayed_self_message_with_a_unique_token(
    impls: ModuleType, pb: ModuleType
) -> None:
    driver = Driver(impls.app())
    first = driver.invoke(CLIENT, "u1", pb.Arm(label="one", delay_ms=1500))
    (timer,) = delayed(first)
    assert not timer.is_cancellation_request
    assert (timer.target.namespace, timer.target.type, timer.target.id) == (
        "test.calls",
        "client",
        "u1",
    )
    assert timer.delay_in_ms == 1500
    assert timer.cancellation_token == "sfidl.timer.0"
    fired = decode(timer.argument, TimerFired)
    assert fired == TimerFired(
        timer="tick", payload=pb.Tick(label="one").SerializeToString(), token="sfidl.timer.0"
    )
    assert stored_timer(driver) == "sfidl.timer.0"

    second = driver.invoke(CLIENT, "u1", pb.Arm(label="two", delay_ms=0))
    assert [d.cancellation_token for d in delayed(second)] == ["sfidl.timer.1"]
    assert delayed(second)[0].delay_in_ms == 0
    assert hidden(driver, CLIENT, "u1") == RuntimeState(next_id=2)


def test_timer_tokens_and_call_timeouts_share_one_counter(
    impls: ModuleType, pb: ModuleType
) -> None:
    driver = Driver(impls.app())
    call = driver.invoke(CLIENT, "u1", pb.Start(key="a"))
    armed = driver.invoke(CLIENT, "u1", pb.Arm(label="x", delay_ms=10))
    tokens = [d.cancellation_token for r in (call, armed) for d in delayed(r)]
    assert tokens == ["sfidl.timeout.0", "sfidl.timer.1"]


def test_fired_timer_runs_the_timer_method(impls: ModuleType, pb: ModuleType) -> None:
    client = impls.Client()
    driver = Driver(impls.app(client=client))
    armed = driver.invoke(CLIENT, "u1", pb.Arm(label="one", delay_ms=5))
    fired = Envelope(armed.delayed_invocations[0].argument, (CLIENT, "u1"))
    result = driver.invoke(CLIENT, "u1", fired)
    assert client.seen == [("tick", pb.Tick(label="one"), None, None)]
    assert result == FromFunction.InvocationResponse()


def test_timer_fired_from_another_address_is_dead_lettered(
    impls: ModuleType, pb: ModuleType
) -> None:
    client = impls.Client()
    driver = Driver(impls.app(client=client))
    armed = driver.invoke(CLIENT, "u1", pb.Arm(label="one", delay_ms=5))
    forged = Envelope(armed.delayed_invocations[0].argument, (STORE, "u1"))
    result = driver.invoke(CLIENT, "u1", forged)
    assert client.seen == [] and len(result.outgoing_egresses) == 1


def test_cancel_sends_the_cancellation_of_that_token(impls: ModuleType, pb: ModuleType) -> None:
    driver = Driver(impls.app())
    driver.invoke(CLIENT, "u1", pb.Arm(label="one", delay_ms=1500))
    cancelled = driver.invoke(CLIENT, "u1", pb.Arm(cancel=True))
    (cancel,) = delayed(cancelled)
    assert cancel.is_cancellation_request
    assert cancel.cancellation_token == "sfidl.timer.0"
    assert not cancel.HasField("argument") and not cancel.HasField("target")
    assert stored_timer(driver) is None


def test_cancel_of_something_that_is_not_a_timer_id_raises(
    impls: ModuleType, pb: ModuleType
) -> None:
    """An empty cancellation token fails the StateFun job; a call's token would cancel its timeout."""
    driver = Driver(impls.app())
    with pytest.raises(ValueError, match="not the id of a timer: ''"):
        driver.invoke(CLIENT, "u1", pb.Arm(cancel=True))  # no timer id in state


def test_negative_delay_raises(impls: ModuleType, pb: ModuleType) -> None:
    driver = Driver(impls.app())
    with pytest.raises(ValueError, match="a delay cannot be negative"):
        driver.invoke(CLIENT, "u1", pb.Arm(label="x", delay_ms=-1))
