"""What a function does with what it cannot or must not handle: bugs fail, poison is set aside.

A bug (an undeclared exception, a wrong return type) fails the invocation so StateFun
retries it from consistent state; a message no retry could ever handle (no handler, bytes
that do not decode, an rpc call with nobody to answer) is logged and written to the
dead-letter egress, and the invocation succeeds so the runtime moves on.
"""

from __future__ import annotations

import dataclasses
import logging
from types import ModuleType
from typing import Any

import pytest
from statefun.kafka_egress_pb2 import KafkaProducerRecord
from statefun.request_reply_pb2 import TypedValue

import sfidl.runtime as sf
from sfidl.runtime.internal_pb2 import DeadLetter
from tests.protocol import Driver, Envelope, Response, decode, forward
from tests.runtime.wire import CLIENT, STORE, hidden, sent, typename

USER = (CLIENT, "u1")


@pytest.fixture
def pb(calls_out: Any) -> ModuleType:
    import calls_pb2

    return calls_pb2


def call_store(driver: Driver, pb: ModuleType, key: str) -> Response:
    """Store.get(key) from the client u1, as the client's call envelope would arrive."""
    return driver.invoke(
        STORE, key, pb.StoreGetCall(correlation_id="0.0", request=pb.Ask(key=key)), caller=USER
    )


def dead_letter(result: Response) -> DeadLetter:
    """The one dead letter ``result`` wrote, checked to be a Kafka record of the dead egress."""
    (egress,) = result.outgoing_egresses
    assert (egress.egress_namespace, egress.egress_type) == ("test.calls", "dead")
    record = decode(egress.argument, KafkaProducerRecord)
    assert record.topic == "dead-letters"
    letter = DeadLetter.FromString(record.value_bytes)
    assert record.key == letter.function_id
    return letter


# -- bugs fail the invocation -----------------------------------------------------------


def test_undeclared_exception_in_the_callee_fails_the_invocation(
    impls: ModuleType, pb: ModuleType
) -> None:
    driver = Driver(impls.app())
    with pytest.raises(RuntimeError, match="a bug in Store.get"):
        call_store(driver, pb, "boom")
    assert (STORE, "boom") not in driver.state  # nothing applied: no reply, no state


UNDECLARED = (
    'test.calls/store.get {how} ForbiddenError (Forbidden(why: "not declared by Store.get")), '
    "an error get does not declare: it declares NotFoundError"
)


@pytest.mark.parametrize("key, how", [("forbidden", "raised"), ("forbidden-returned", "returned")])
def test_error_the_rpc_did_not_declare_fails_the_invocation_naming_it(
    impls: ModuleType, pb: ModuleType, key: str, how: str
) -> None:
    driver = Driver(impls.app())
    with pytest.raises(sf.UndeclaredEffect) as failed:
        call_store(driver, pb, key)
    assert str(failed.value) == UNDECLARED.format(how=how)
    assert (STORE, key) not in driver.state  # nothing applied: no reply, no state


def test_a_hand_written_error_class_fails_naming_it_not_with_an_attribute_error(
    impls: ModuleType, pb: ModuleType
) -> None:
    """Issue 7: an RpcError subclass the IDL did not generate (it has no detail_type)
    failed with ``AttributeError: 'Closed' object has no attribute 'detail_type'`` when
    constructed; now it reaches the handler's answer and fails naming the handler."""

    class Closed(sf.RpcError[Any]):
        pass

    class Raises(impls.Store):  # type: ignore[misc,name-defined]
        def get(self, ctx: Any, request: Any) -> Any:
            raise Closed(pb.Note(text="closed"))

    driver = Driver(impls.app(store=Raises()))
    with pytest.raises(sf.UndeclaredEffect) as failed:
        call_store(driver, pb, "a")
    assert str(failed.value) == (
        'test.calls/store.get raised Closed (Note(text: "closed")), an error get does not '
        "declare: it declares NotFoundError"
    )


def test_callee_returning_the_wrong_type_fails_the_invocation(
    impls: ModuleType, pb: ModuleType
) -> None:
    driver = Driver(impls.app())
    with pytest.raises(TypeError, match="get must return a test.calls.Answer, not Peeked"):
        call_store(driver, pb, "wrong")


def test_callee_returning_a_declared_error_answers_with_it(
    impls: ModuleType, pb: ModuleType
) -> None:
    driver = Driver(impls.app())
    result = call_store(driver, pb, "missing")
    assert sent(result, pb.StoreGetReply) == (
        CLIENT,
        "u1",
        pb.StoreGetReply(correlation_id="0.0", not_found=pb.NotFound(key="missing", tried=1)),
    )


def test_callee_returning_an_error_message_instead_of_the_error_fails(
    impls: ModuleType, pb: ModuleType
) -> None:
    class Returns(impls.Store):  # type: ignore[misc,name-defined]
        def get(self, ctx: Any, request: Any) -> Any:
            return pb.NotFound(key=request.key)

    driver = Driver(impls.app(store=Returns()))
    with pytest.raises(TypeError, match="get must return a test.calls.Answer, not NotFound"):
        call_store(driver, pb, "a")


def test_callee_answers_the_caller_that_asked(impls: ModuleType, pb: ModuleType) -> None:
    driver = Driver(impls.app())
    result = call_store(driver, pb, "a")
    assert sent(result, pb.StoreGetReply) == (
        CLIENT,
        "u1",
        pb.StoreGetReply(correlation_id="0.0", reply=pb.Answer(key="a", value=1)),
    )


# -- poison is set aside ----------------------------------------------------------------


def test_rpc_call_with_no_caller_is_dead_lettered(
    impls: ModuleType, pb: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    driver = Driver(impls.app())
    call = pb.StoreGetCall(correlation_id="0.0", request=pb.Ask(key="a"))
    with caplog.at_level(logging.WARNING, logger="sfidl.runtime"):
        result = driver.invoke(STORE, "a", call)  # from an ingress: no caller
    assert not result.outgoing_messages and not result.delayed_invocations
    assert not result.state_mutations  # the handler did not run
    letter = dead_letter(result)
    assert letter == DeadLetter(
        function_typename=STORE,
        function_id="a",
        caller="",
        message_typename=typename(pb.StoreGetCall),
        message_value=call.SerializeToString(),
        reason="get returns a reply but the call has no caller to send it to",
    )
    assert "dropped a message of type 'type.googleapis.com/test.calls.StoreGetCall'" in caplog.text
    # Delivered again (a retry), it is set aside again: no failure, so no endless loop.
    assert dead_letter(driver.invoke(STORE, "a", call)) == letter


def test_message_type_the_function_does_not_accept_is_dead_lettered(
    impls: ModuleType, pb: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    driver = Driver(impls.app())
    with caplog.at_level(logging.WARNING, logger="sfidl.runtime"):
        result = driver.invoke(STORE, "a", pb.Start(key="a"), caller=USER)
    letter = dead_letter(result)
    assert letter.caller == "test.calls/client/u1"
    assert letter.message_typename == typename(pb.Start)
    assert letter.reason == "test.calls/store has no handler for this message type"
    assert (
        "test.calls/store/a: dropped a message of type 'type.googleapis.com/test.calls.Start'"
        in caplog.text
    )


@pytest.mark.parametrize(
    "message", ["StoreGetCall", "Start", "StoreGetReply", "CallTimeout", "TimerFired"]
)
def test_undecodable_bytes_are_dead_lettered(
    impls: ModuleType, pb: ModuleType, caplog: pytest.LogCaptureFixture, message: str
) -> None:
    from sfidl.runtime import internal_pb2

    cls = getattr(pb, message, None) or getattr(internal_pb2, message)
    target = STORE if message == "StoreGetCall" else CLIENT
    garbage = b"\x0a\xff\xff\xff"  # a length-delimited field longer than the message
    value = TypedValue(typename=typename(cls), has_value=True, value=garbage)
    driver = Driver(impls.app())
    sender = (target, "u1") if message in ("CallTimeout", "TimerFired") else USER
    with caplog.at_level(logging.WARNING, logger="sfidl.runtime"):
        result = driver.invoke(target, "u1", Envelope(value, sender))
    letter = dead_letter(result)
    assert letter.message_value == garbage
    assert letter.reason.startswith("cannot decode a ")
    assert not result.state_mutations and not result.outgoing_messages
    assert "cannot decode" in caplog.text


def test_message_without_a_value_is_dead_lettered(impls: ModuleType, pb: ModuleType) -> None:
    driver = Driver(impls.app())
    value = TypedValue(typename=typename(pb.Start), has_value=False)
    letter = dead_letter(driver.invoke(CLIENT, "u1", Envelope(value, None)))
    assert letter.reason == "the message carries no value"


def test_without_a_dead_letter_egress_poison_is_only_logged(
    impls: ModuleType, pb: ModuleType, caplog: pytest.LogCaptureFixture, calls_out: Any
) -> None:
    import calls_sfidl

    manifest = dataclasses.replace(calls_sfidl.MANIFEST, egresses=())
    app = sf.Application(
        manifest,
        [
            impls.Store(),
            impls.Other(),
            impls.Client(),
            impls.Vault(),
            impls.Relay(),
            impls.Desk(),
            impls.Fanner(),
        ],
    )
    driver = Driver(app)
    with caplog.at_level(logging.WARNING, logger="sfidl.runtime"):
        result = driver.invoke(STORE, "a", pb.Start(key="a"), caller=USER)
    assert not result.outgoing_egresses and not result.outgoing_messages
    assert "no handler for this message type" in caplog.text


def test_poison_in_a_batch_does_not_undo_the_other_messages(
    impls: ModuleType, pb: ModuleType
) -> None:
    client = impls.Client()
    driver = Driver(impls.app(client=client))
    call = driver.invoke(CLIENT, "u1", pb.Start(key="a"), pb.Start(key="b"))
    answered = driver.invoke(STORE, "a", forward(call, 0, sender=USER))
    garbage = Envelope(
        TypedValue(typename=typename(pb.StoreGetReply), has_value=True, value=b"\xff"), (STORE, "b")
    )
    result = driver.invoke(CLIENT, "u1", garbage, forward(answered, sender=(STORE, "a")))
    assert len(result.outgoing_egresses) == 1
    assert [name for name, *_ in client.seen] == ["got"]
    assert sorted(hidden(driver, CLIENT, "u1").pending) == ["1"]
    assert hidden(driver, CLIENT, "u1").next_id == 2


def test_reading_a_state_the_function_does_not_register_fails_the_invocation(
    impls: ModuleType, pb: ModuleType
) -> None:
    """A message state of another function's (or a stale generated class) read where it is
    not registered is a bug, not an empty value: the SDK's AttributeError fails the
    invocation, as reading an unregistered scalar state does."""

    class Elsewhere(sf.State):
        note = sf.MessageState(pb.Note)

    class Reads(impls.Client):  # type: ignore[misc, name-defined]
        def arm(self, ctx: Any, message: Any) -> None:
            ctx.state.timer = Elsewhere(ctx._invocation).note.text

    driver = Driver(impls.app(client=Reads()))
    with pytest.raises(AttributeError, match="'note' is not a registered ValueSpec"):
        driver.invoke(CLIENT, "u1", pb.Arm(label="x", delay_ms=1))
    assert not driver.state.get(USER, {}).get("timer")  # nothing applied
