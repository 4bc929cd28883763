"""Exclusive instances through the SDK's RequestReplyHandler with real bytes.

Desk is exclusive: while its `work` call to Store.get or a deferred `wait` is pending,
`note`, `echo`, `wait`, `work` and `arm` are held in the hidden state, in arrival order
with their original callers, and handled inline once nothing is pending. Replies, call
timeouts, reply expiries, timers and `release` (which completes `wait`) are never held.
"""

from __future__ import annotations

import dataclasses
import logging
from types import ModuleType
from typing import Any

import pytest
from statefun.kafka_egress_pb2 import KafkaProducerRecord

from sfidl.runtime.internal_pb2 import DeadLetter, HeldMessage, RuntimeState
from tests.protocol import Driver, Envelope, Response, decode, forward
from tests.runtime.wire import CLIENT, DESK, OTHER, STORE, hidden, sent, typename

USER = (CLIENT, "u1")


@pytest.fixture
def pb(calls_out: Any) -> ModuleType:
    import calls_pb2

    return calls_pb2


@pytest.fixture
def gen(calls_out: Any) -> ModuleType:
    import calls_sfidl

    return calls_sfidl


def from_itself(result: Response, token_prefix: str) -> Envelope:
    """The delayed self-message of ``result`` whose token starts with ``token_prefix``."""
    (due,) = [
        d
        for d in result.delayed_invocations
        if not d.is_cancellation_request and d.cancellation_token.startswith(token_prefix)
    ]
    return Envelope(due.argument, (f"{due.target.namespace}/{due.target.type}", due.target.id))


def busy_desk(impls: ModuleType, pb: ModuleType, **app: Any) -> tuple[Any, Driver, Response]:
    """Desk d after `work a`: its call to Store.get is pending."""
    desk = impls.Desk()
    driver = Driver(impls.app(desk=desk, **app))
    call = driver.invoke(DESK, "d", pb.Start(key="a"))
    assert "0" in hidden(driver, DESK, "d").pending
    return desk, driver, call


def reply_to(driver: Driver, call: Response) -> Envelope:
    """Store's reply to Desk's pending call, ready to deliver."""
    answered = driver.invoke(STORE, "a", forward(call, sender=(DESK, "d")))
    return forward(answered, sender=(STORE, "a"))


def test_messages_are_held_in_order_with_their_callers_while_a_call_is_pending(
    impls: ModuleType, pb: ModuleType
) -> None:
    desk, driver, _ = busy_desk(impls, pb)
    echo = pb.DeskEchoCall(correlation_id="4.0", request=pb.Ask(key="e"))
    held = driver.invoke(DESK, "d", pb.Note(text="1"))
    assert not held.outgoing_messages and not held.delayed_invocations
    driver.invoke(DESK, "d", echo, caller=USER)
    driver.invoke(DESK, "d", pb.Note(text="2"), caller=(OTHER, "o"))

    assert desk.handled == ["work a"]
    assert list(hidden(driver, DESK, "d").held) == [
        HeldMessage(typename=typename(pb.Note), value=pb.Note(text="1").SerializeToString()),
        HeldMessage(
            typename=typename(pb.DeskEchoCall),
            value=echo.SerializeToString(),
            caller_typename=CLIENT,
            caller_id="u1",
        ),
        HeldMessage(
            typename=typename(pb.Note),
            value=pb.Note(text="2").SerializeToString(),
            caller_typename=OTHER,
            caller_id="o",
        ),
    ]


def test_the_reply_is_never_held_and_releases_the_held_messages_inline_in_order(
    impls: ModuleType, pb: ModuleType
) -> None:
    desk, driver, call = busy_desk(impls, pb)
    echo = pb.DeskEchoCall(correlation_id="4.0", request=pb.Ask(key="e"))
    driver.invoke(DESK, "d", pb.Note(text="1"))
    driver.invoke(DESK, "d", echo, caller=USER)
    driver.invoke(DESK, "d", pb.Note(text="2"), caller=(OTHER, "o"))

    released = driver.invoke(DESK, "d", reply_to(driver, call))
    assert desk.handled == [
        "work a",
        "worked a",
        "note 1 from None",
        "echo e",
        "note 2 from test.calls/other/o",
    ]
    # The held rpc answered its original caller, with its own correlation id.
    assert sent(released, pb.DeskEchoReply) == (
        CLIENT,
        "u1",
        pb.DeskEchoReply(correlation_id="4.0", reply=pb.Answer(key="e")),
    )
    assert hidden(driver, DESK, "d") == RuntimeState(next_id=1)


def test_release_stops_at_a_held_message_that_makes_a_call(
    impls: ModuleType, pb: ModuleType
) -> None:
    desk, driver, call = busy_desk(impls, pb)
    driver.invoke(DESK, "d", pb.Note(text="1"))
    driver.invoke(DESK, "d", pb.Start(key="b"))
    driver.invoke(DESK, "d", pb.Note(text="2"))

    released = driver.invoke(DESK, "d", reply_to(driver, call))
    assert desk.handled == ["work a", "worked a", "note 1 from None", "work b"]
    assert sent(released, pb.StoreGetCall)[:2] == (STORE, "b")
    runtime = hidden(driver, DESK, "d")
    assert list(runtime.pending) == ["1"]
    assert [pb.Note.FromString(h.value).text for h in runtime.held] == ["2"]


def test_messages_in_the_same_batch_as_the_call_are_held(impls: ModuleType, pb: ModuleType) -> None:
    desk = impls.Desk()
    driver = Driver(impls.app(desk=desk))
    driver.invoke(DESK, "d", pb.Start(key="a"), pb.Note(text="1"), pb.Start(key="b"))
    assert desk.handled == ["work a"]
    assert len(hidden(driver, DESK, "d").held) == 2


def test_timers_are_never_held(impls: ModuleType, pb: ModuleType) -> None:
    desk = impls.Desk()
    driver = Driver(impls.app(desk=desk))
    armed = driver.invoke(DESK, "d", pb.Arm(label="t", delay_ms=5))
    driver.invoke(DESK, "d", pb.Start(key="a"))
    driver.invoke(DESK, "d", from_itself(armed, "sfidl.timer."))
    assert desk.handled == ["arm t", "work a", "tick t"]


def test_a_call_timeout_is_never_held_and_releases(impls: ModuleType, pb: ModuleType) -> None:
    desk, driver, call = busy_desk(impls, pb)
    driver.invoke(DESK, "d", pb.Note(text="1"))
    driver.invoke(DESK, "d", from_itself(call, "sfidl.timeout."))
    assert desk.handled == ["work a", "worked a", "note 1 from None"]
    assert hidden(driver, DESK, "d").held == []


def wait_call(pb: ModuleType, correlation: str, deadline: int = 0) -> Any:
    return pb.DeskWaitCall(
        correlation_id=correlation, request=pb.Ask(key=correlation), deadline_millis=deadline
    )


def test_a_pending_deferred_reply_holds_and_its_completion_is_never_held(
    impls: ModuleType, pb: ModuleType
) -> None:
    desk = impls.Desk()
    driver = Driver(impls.app(desk=desk))
    driver.invoke(DESK, "d", wait_call(pb, "w1"), caller=USER)
    driver.invoke(DESK, "d", pb.Note(text="1"))
    driver.invoke(DESK, "d", wait_call(pb, "w2"), caller=(OTHER, "o"))  # a second wait: held
    assert desk.handled == ["wait w1"] and desk.waiting == ["0"]

    released = driver.invoke(DESK, "d", pb.Unlock(reply_id="0", value=3))
    assert desk.handled == ["wait w1", "release 0", "note 1 from None", "wait w2"]
    assert sent(released, pb.DeskWaitReply) == (
        CLIENT,
        "u1",
        pb.DeskWaitReply(correlation_id="w1", reply=pb.Answer(value=3)),
    )
    # The second wait deferred in turn: it holds what comes next.
    runtime = hidden(driver, DESK, "d")
    assert list(runtime.replies) == ["1"] and runtime.replies["1"].caller_typename == OTHER
    driver.invoke(DESK, "d", pb.Note(text="2"))
    assert desk.handled[-1] == "wait w2"


def test_an_expired_deferred_reply_releases(impls: ModuleType, pb: ModuleType) -> None:
    desk = impls.Desk()
    driver = Driver(impls.app(desk=desk))
    deferred = driver.invoke(DESK, "d", wait_call(pb, "w1", deadline=impls.T0 + 1000), caller=USER)
    driver.invoke(DESK, "d", pb.Note(text="1"))
    driver.invoke(DESK, "d", from_itself(deferred, "sfidl.reply."))
    assert desk.handled == ["wait w1", "note 1 from None"]
    assert hidden(driver, DESK, "d") == RuntimeState(next_id=1)


def test_held_messages_survive_a_restart(impls: ModuleType, pb: ModuleType) -> None:
    _, driver, call = busy_desk(impls, pb)
    driver.invoke(DESK, "d", pb.Note(text="1"))
    reply = reply_to(driver, call)
    driver.app = impls.app(desk=(desk := impls.Desk()))  # a fresh process, the state kept
    driver.invoke(DESK, "d", reply)
    assert desk.handled == ["worked a", "note 1 from None"]


def test_a_held_message_whose_handler_a_redeploy_removed_is_dead_lettered(
    impls: ModuleType, pb: ModuleType, gen: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    spec = gen.Desk.sfidl_spec

    class Redeployed(impls.Desk):  # type: ignore[misc,name-defined]
        sfidl_spec = dataclasses.replace(
            spec, handlers=tuple(h for h in spec.handlers if h.name != "note")
        )

    _, driver, call = busy_desk(impls, pb)
    driver.invoke(DESK, "d", pb.Note(text="1"), caller=(OTHER, "o"))
    driver.invoke(DESK, "d", pb.DeskEchoCall(correlation_id="e", request=pb.Ask()), caller=USER)
    reply = reply_to(driver, call)
    driver.app = impls.app(desk=(desk := Redeployed()))
    with caplog.at_level(logging.WARNING, logger="sfidl.runtime"):
        released = driver.invoke(DESK, "d", reply)

    assert desk.handled == ["worked a", "echo "]  # the next held message still runs
    (egress,) = released.outgoing_egresses
    letter = DeadLetter.FromString(decode(egress.argument, KafkaProducerRecord).value_bytes)
    assert letter == DeadLetter(
        function_typename=DESK,
        function_id="d",
        caller="test.calls/other/o",
        message_typename=typename(pb.Note),
        message_value=pb.Note(text="1").SerializeToString(),
        reason="test.calls/desk has no handler for this message type",
    )
    assert hidden(driver, DESK, "d") == RuntimeState(next_id=1)


def test_a_function_no_longer_exclusive_after_a_redeploy_releases_what_it_held(
    impls: ModuleType, pb: ModuleType, gen: ModuleType
) -> None:
    class Redeployed(impls.Desk):  # type: ignore[misc,name-defined]
        sfidl_spec = dataclasses.replace(gen.Desk.sfidl_spec, exclusive=False)

    _, driver, call = busy_desk(impls, pb)
    driver.invoke(DESK, "d", pb.Note(text="1"))
    reply = reply_to(driver, call)
    driver.app = impls.app(desk=(desk := Redeployed()))
    driver.invoke(DESK, "d", reply)
    assert desk.handled == ["worked a", "note 1 from None"]


def test_a_function_that_is_not_exclusive_holds_nothing(impls: ModuleType, pb: ModuleType) -> None:
    client = impls.Client()
    driver = Driver(impls.app(client=client))
    driver.invoke(CLIENT, "u1", pb.Start(key="a"))
    driver.invoke(CLIENT, "u1", pb.Start(key="b"))
    assert len(hidden(driver, CLIENT, "u1").pending) == 2
    assert hidden(driver, CLIENT, "u1").held == []


def test_poison_is_set_aside_not_held(impls: ModuleType, pb: ModuleType) -> None:
    _, driver, _ = busy_desk(impls, pb)
    result = driver.invoke(DESK, "d", pb.Fan())  # no handler of Desk takes it
    assert len(result.outgoing_egresses) == 1
    assert hidden(driver, DESK, "d").held == []


def test_a_deferred_reply_a_redeploy_can_no_longer_complete_holds_nothing(
    impls: ModuleType, pb: ModuleType, gen: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    """`wait` (no deadline: it would wait forever) no longer defers after the redeploy."""
    spec = gen.Desk.sfidl_spec

    class Redeployed(impls.Desk):  # type: ignore[misc,name-defined]
        sfidl_spec = dataclasses.replace(
            spec,
            handlers=tuple(
                dataclasses.replace(h, defers=False) if h.name == "wait" else h
                for h in spec.handlers
            ),
        )

    driver = Driver(impls.app())
    driver.invoke(DESK, "d", wait_call(pb, "w1"), caller=USER)
    driver.app = impls.app(desk=(desk := Redeployed()))
    with caplog.at_level(logging.WARNING, logger="sfidl.runtime"):
        driver.invoke(DESK, "d", pb.Note(text="1"))
    assert desk.handled == ["note 1 from None"]
    assert hidden(driver, DESK, "d") == RuntimeState(next_id=1)
    assert "forgot the deferred reply 0 of wait to test.calls/client/u1" in caplog.text
