"""The in-process harness: delivery, batching, the handshake, delayed messages, expiry, egress."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from sfidl.local.errors import LocalRuntimeError
from sfidl.local.records import Address
from sfidl.testing import Harness
from tests.local.apps import AUDIT, COUNTER, RELAY, TIMERS, Count, Greet, Increment, Timer, demo_app

START = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def app():
    return demo_app()


@pytest.fixture
def harness(app):
    with Harness(app, start=START) as h:
        yield h


def test_state_and_egress_after_messages(harness):
    harness.send(COUNTER, "a", Increment(by=2))
    harness.send(COUNTER, "a", Increment(by=3))
    harness.send(COUNTER, "b", Increment(by=7))
    harness.run_until_quiet()
    assert harness.state(COUNTER, "a", "total") == 5
    assert harness.state(COUNTER, "b", "total") == 7
    assert harness.state(COUNTER, "c", "total") is None
    assert harness.state(AUDIT, "all", "sum") == 12
    records = harness.egress("counts")
    assert [(r.topic, r.key, r.value) for r in records if r.key == "a"] == [
        ("counts", "a", Count(id="a", total=2)),
        ("counts", "a", Count(id="a", total=5)),
    ]
    assert harness.egress("demo/counts") == records


def test_handshake_registers_missing_state_then_retries_the_same_batch(harness, app):
    harness.send(COUNTER, "a", Increment(by=1))
    harness.run_until_quiet()
    first, retry = app.requests[0], app.requests[1]
    assert len(first.invocation.state) == 0
    assert [s.state_name for s in retry.invocation.state] == ["total", "note", "visits"]
    assert not any(s.HasField("state_value") for s in retry.invocation.state)
    assert retry.invocation.invocations == first.invocation.invocations
    # Registered once per function type: a second address gets every state at once.
    harness.send(COUNTER, "b", Increment(by=1))
    harness.run_until_quiet()
    to_b = [r for r in app.requests if r.invocation.target.id == "b"]
    assert len(to_b) == 1 and len(to_b[0].invocation.state) == 3


def test_messages_queued_behind_an_invocation_arrive_as_one_batch(harness, app):
    for by in range(1, 5):
        harness.send(COUNTER, "a", Increment(by=by))
    harness.run_until_quiet()
    # The first message reaches an idle address alone (plus its handshake retry); the three
    # queued behind it go out together, as StateFun batches per address.
    assert app.batches(COUNTER, "a") == [1, 1, 3]
    assert harness.state(COUNTER, "a", "total") == 10
    assert [r.value.total for r in harness.egress("counts")] == [1, 3, 6, 10]


def test_sent_log_has_callers_for_function_messages_and_none_for_ingress(harness):
    harness.send(RELAY, "r", Increment(by=4, note="x"))
    harness.run_until_quiet()
    assert [(d.target, d.caller, d.value) for d in harness.sent] == [
        (Address("demo", "relay", "r"), None, Increment(by=4, note="x")),
        (Address("demo", "counter", "x"), Address("demo", "relay", "r"), Increment(by=4, note="x")),
        (
            Address("demo", "audit", "all"),
            Address("demo", "counter", "x"),
            Increment(by=4, note="x"),
        ),
    ]
    assert harness.sent[0].typename == "type.googleapis.com/sfidl.demo.Increment"
    # The function saw the caller too (its own state records it).
    assert harness.state(AUDIT, "all", "callers") == "demo/counter/x;"


def test_ingest_routes_a_kafka_record_by_key(harness):
    harness.ingest("increments", "k1", Increment(by=9))
    harness.ingest("demo/increments", "k1", Increment(by=1))
    harness.run_until_quiet()
    assert harness.state(COUNTER, "k1", "total") == 10
    assert harness.sent[0].caller is None


def test_advance_fires_delayed_messages_in_time_order_with_the_sender_as_caller(harness):
    harness.send(TIMERS, "t", Timer(label="late", delay_ms=3000))
    harness.send(TIMERS, "t", Timer(label="early", delay_ms=1000))
    harness.send(TIMERS, "u", Timer(label="middle", delay_ms=2000))
    harness.run_until_quiet()
    harness.advance(timedelta(milliseconds=999))
    assert harness.state(TIMERS, "t", "fired") is None
    harness.advance(timedelta(seconds=5))
    assert harness.state(TIMERS, "t", "fired") == "early;late;"
    fired = [
        (d.target.id, d.value.name, d.caller) for d in harness.sent if isinstance(d.value, Greet)
    ]
    assert fired == [
        ("t", "early", Address("demo", "timers", "t")),
        ("u", "middle", Address("demo", "timers", "u")),
        ("t", "late", Address("demo", "timers", "t")),
    ]
    assert harness.now == START + timedelta(milliseconds=5999)


def test_a_zero_delay_fires_without_advancing(harness):
    harness.send(TIMERS, "t", Timer(label="now", delay_ms=0))
    harness.run_until_quiet()
    assert harness.state(TIMERS, "t", "fired") == "now;"


def test_cancellation_token_cancels_only_the_senders_pending_message(harness):
    harness.send(TIMERS, "t", Timer(label="cancelled", delay_ms=1000, token="tok"))
    harness.send(TIMERS, "u", Timer(label="kept", delay_ms=1000, token="tok"))
    harness.send(TIMERS, "t", Timer(label="other", delay_ms=2000, token="tok2"))
    harness.run_until_quiet()
    harness.send(TIMERS, "t", Timer(cancel=True, token="tok"))
    harness.run_until_quiet()
    harness.advance(timedelta(seconds=10))
    assert harness.state(TIMERS, "t", "fired") == "other;"
    assert harness.state(TIMERS, "u", "fired") == "kept;"
    # A delivered token is free again, and cancelling an unknown token is a no-op.
    harness.send(TIMERS, "t", Timer(cancel=True, token="never"))
    harness.send(TIMERS, "t", Timer(label="again", delay_ms=10, token="tok2"))
    harness.run_until_quiet()
    harness.advance(timedelta(seconds=1))
    assert harness.state(TIMERS, "t", "fired") == "other;again;"


def test_state_expires_after_write(harness):
    harness.send(COUNTER, "a", Increment(by=1, note="hello"))
    harness.run_until_quiet()
    harness.advance(timedelta(minutes=4))
    harness.send(COUNTER, "a", Increment(by=1))  # not a write of "note": its TTL is not renewed
    harness.run_until_quiet()
    assert harness.state(COUNTER, "a", "note") == "hello"
    harness.advance(timedelta(minutes=1))
    assert harness.state(COUNTER, "a", "note") is None
    assert harness.state(COUNTER, "a", "total") == 2  # no expiry


def test_state_expires_after_invoke_and_each_invocation_renews_it(harness, app):
    harness.send(COUNTER, "a", Increment(by=1))
    harness.run_until_quiet()
    for _ in range(3):
        harness.advance(timedelta(minutes=9))
        harness.send(COUNTER, "a", Increment(by=1))
        harness.run_until_quiet()
    assert harness.state(COUNTER, "a", "visits") == 4
    harness.advance(timedelta(minutes=10))
    assert harness.state(COUNTER, "a", "visits") is None
    harness.send(COUNTER, "a", Increment(by=1))
    harness.run_until_quiet()
    # The function was sent the expired state as absent (name only).
    last = [r for r in app.requests if r.invocation.target.type == "counter"][-1].invocation.state
    assert {s.state_name: s.HasField("state_value") for s in last} == {
        "total": True,
        "note": False,
        "visits": False,
    }
    assert harness.state(COUNTER, "a", "visits") == 1


def test_unknown_names_are_clear_errors(harness):
    with pytest.raises(LocalRuntimeError, match="unknown egress 'nope'.*demo/counts"):
        harness.egress("nope")
    with pytest.raises(LocalRuntimeError, match="unknown ingress 'nope'.*demo/increments"):
        harness.ingest("nope", "k", Increment())
    with pytest.raises(LocalRuntimeError, match="unknown function type 'demo/nobody'"):
        harness.send("demo/nobody", "k", Increment())


def test_a_closed_harness_refuses_work(app):
    h = Harness(app)
    h.close()
    h.close()
    with pytest.raises(LocalRuntimeError, match="closed"):
        h.run_until_quiet()


def test_works_inside_a_running_event_loop(app):
    async def an_async_test() -> object:
        with Harness(app) as h:
            h.send(COUNTER, "a", Increment(by=1))
            h.run_until_quiet()
            return h.state(COUNTER, "a", "total")

    assert asyncio.run(an_async_test()) == 1


def test_advance_moves_exactly_the_milliseconds_asked(harness):
    # 1.001 s * 1000 is 1000.999... in floating point: the timer due at 1001 ms must still fire.
    harness.send(TIMERS, "t", Timer(label="due", delay_ms=1001))
    harness.run_until_quiet()
    harness.advance(timedelta(milliseconds=1001))
    assert harness.state(TIMERS, "t", "fired") == "due;"
    assert harness.now == START + timedelta(milliseconds=1001)


def test_timers_due_at_the_same_time_fire_in_the_order_they_were_set(harness):
    for id, label in [("u", "first"), ("t", "second"), ("v", "third"), ("u", "fourth")]:
        harness.send(TIMERS, id, Timer(label=label, delay_ms=500))
    harness.run_until_quiet()
    harness.advance(timedelta(seconds=1))
    fired = [d.value.name for d in harness.sent if isinstance(d.value, Greet)]
    assert fired == ["first", "second", "third", "fourth"]
    assert harness.state(TIMERS, "u", "fired") == "first;fourth;"
