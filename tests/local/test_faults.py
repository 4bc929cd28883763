"""Injected faults on the plain-SDK demo app: slow, silent and lossy callees, and what they record.

The demo's counter sends every increment on to ``demo/audit/all``; the relay sends its
message on to the counter named in the note. (The sfidl call tests, with timeouts, are in
test_calls.py.)
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sfidl.local.errors import LocalRuntimeError
from sfidl.local.records import Address, Faulted
from sfidl.testing import Harness
from tests.local.apps import AUDIT, COUNTER, RELAY, TIMERS, Greet, Increment, Timer, demo_app

START = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
INCREMENT = "type.googleapis.com/sfidl.demo.Increment"


@pytest.fixture
def harness():
    with Harness(demo_app(), start=START) as h:
        yield h


def increments(harness: Harness, *values: int, id: str = "a") -> None:
    for by in values:
        harness.send(COUNTER, id, Increment(by=by))
    harness.run_until_quiet()


def test_lose_drops_the_next_message_and_records_it(harness):
    harness.lose(AUDIT)
    increments(harness, 2, 3)
    assert harness.state(AUDIT, "all", "sum") == 3
    assert harness.faulted == [
        Faulted(
            "dropped",
            Address("demo", "audit", "all"),
            Address("demo", "counter", "a"),
            INCREMENT,
            Increment(by=2, note="a"),
            START,
            timedelta(0),
        )
    ]
    # The dropped message was never delivered.
    assert [d.value.by for d in harness.sent if d.target.type == "audit"] == [3]


def test_lose_count_drops_that_many_then_stops(harness):
    fault = harness.lose(AUDIT, count=2)
    increments(harness, 1, 2, 4, 8)
    assert harness.state(AUDIT, "all", "sum") == 12
    assert not fault.active
    assert [f.value.by for f in harness.faulted] == [1, 2]


def test_silence_drops_everything_until_removed(harness):
    fault = harness.silence(AUDIT)
    increments(harness, 1, 2)
    assert fault.active
    assert harness.state(AUDIT, "all", "sum") is None
    fault.remove()
    fault.remove()  # twice is a no-op
    assert not fault.active
    increments(harness, 4)
    assert harness.state(AUDIT, "all", "sum") == 4
    assert [f.action for f in harness.faulted] == ["dropped", "dropped"]


def test_a_fault_is_a_context_manager(harness):
    with harness.silence(AUDIT) as fault:
        increments(harness, 1)
        assert fault.active
    assert not fault.active
    increments(harness, 2)
    assert harness.state(AUDIT, "all", "sum") == 2


def test_slow_delivers_after_the_virtual_delay_with_the_original_caller(harness):
    harness.slow(COUNTER, timedelta(seconds=10))
    harness.send(RELAY, "r", Increment(by=5, note="x"))
    harness.run_until_quiet()
    assert harness.state(COUNTER, "x", "total") is None
    assert [(f.action, f.delay, f.at) for f in harness.faulted] == [
        ("delayed", timedelta(seconds=10), START)
    ]
    harness.advance(timedelta(seconds=9, milliseconds=999))
    assert harness.state(COUNTER, "x", "total") is None
    harness.advance(timedelta(milliseconds=1))
    assert harness.state(COUNTER, "x", "total") == 5
    delivered = [d for d in harness.sent if d.target == Address("demo", "counter", "x")]
    assert [d.caller for d in delivered] == [Address("demo", "relay", "r")]


def test_a_fault_narrowed_to_an_id_or_a_message_type_leaves_the_others_alone(harness):
    harness.silence(COUNTER, id="x")
    harness.silence(AUDIT, message=Greet)  # the counter sends Increments only
    harness.send(RELAY, "r", Increment(by=1, note="x"))
    harness.send(RELAY, "r", Increment(by=2, note="y"))
    harness.run_until_quiet()
    assert harness.state(COUNTER, "x", "total") is None
    assert harness.state(COUNTER, "y", "total") == 2
    assert harness.state(AUDIT, "all", "sum") == 2
    # A typename or a protobuf full name selects as the class does.
    harness.lose(AUDIT, message="sfidl.demo.Increment")
    harness.lose(AUDIT, message=INCREMENT)
    increments(harness, 10, 20, 40)
    assert harness.state(AUDIT, "all", "sum") == 42


def test_the_fault_added_last_decides(harness):
    harness.slow(AUDIT, timedelta(seconds=1))
    harness.lose(AUDIT)
    increments(harness, 1, 2)
    assert [f.action for f in harness.faulted] == ["dropped", "delayed"]
    harness.advance(timedelta(seconds=1))
    assert harness.state(AUDIT, "all", "sum") == 2


def test_ingress_messages_and_delayed_messages_are_never_touched(harness):
    harness.silence(COUNTER)
    harness.silence(TIMERS)
    harness.send(COUNTER, "a", Increment(by=1))
    harness.send(TIMERS, "t", Timer(label="tick", delay_ms=100))
    harness.run_until_quiet()
    harness.advance(timedelta(seconds=1))
    assert harness.state(COUNTER, "a", "total") == 1
    assert harness.state(TIMERS, "t", "fired") == "tick;"
    assert harness.faulted == []
    assert any(isinstance(d.value, Greet) for d in harness.sent)


def test_bad_faults_are_refused(harness):
    with pytest.raises(LocalRuntimeError, match="unknown function type 'demo/nobody'"):
        harness.silence("demo/nobody")
    with pytest.raises(ValueError, match="at least 1 ms"):
        harness.slow(AUDIT, timedelta(microseconds=10))
    with pytest.raises(ValueError, match="at least 1 message"):
        harness.lose(AUDIT, count=0)
