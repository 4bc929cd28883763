"""One-way handlers take their request in proto3 JSON too, under ``<typename>+json``.

The StateFun playground image's ingress hands the body of ``curl -d '{...}'`` to the
function untouched, with the typename from the Content-Type: decoding the JSON on the
function side is what makes JSON bodies work against the image and ``sfidl run`` alike.
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Any

import pytest
from statefun.kafka_egress_pb2 import KafkaProducerRecord
from statefun.request_reply_pb2 import TypedValue

from sfidl.runtime.internal_pb2 import DeadLetter
from tests.protocol import Driver, Envelope, decode, forward
from tests.runtime.wire import CLIENT, DESK, OTHER, STORE, sent, typename


@pytest.fixture
def pb(calls_out: Any) -> ModuleType:
    import calls_pb2

    return calls_pb2


def as_json(cls: Any, body: bytes) -> Envelope:
    """A message from an ingress with a JSON body, as the playground's ingress passes it on."""
    return Envelope(TypedValue(typename=typename(cls) + "+json", has_value=True, value=body))


def test_a_json_body_runs_the_one_way_handler_as_its_protobuf_form_would(
    impls: ModuleType, pb: ModuleType
) -> None:
    driver = Driver(impls.app())
    from_json = driver.invoke(CLIENT, "u1", as_json(pb.Note, b'{"text": "hi \\u00e9"}'))
    from_protobuf = driver.invoke(CLIENT, "u1", pb.Note(text="hi é"))
    assert (
        sent(from_json, pb.Note)
        == sent(from_protobuf, pb.Note)
        == (OTHER, "hi é", pb.Note(text="hi é"))
    )


def test_json_names_and_proto_names_are_both_accepted(impls: ModuleType, pb: ModuleType) -> None:
    driver = Driver(impls.app())
    for body in (b'{"delayMs": "5", "label": "a"}', b'{"delay_ms": 5, "label": "a"}'):
        result = driver.invoke(CLIENT, "u1", as_json(pb.Arm, body))
        assert [d.delay_in_ms for d in result.delayed_invocations] == [5]
        driver.invoke(CLIENT, "u1", pb.Arm(label="a", cancel=True))  # one timer at a time


def dead_letter(result: Any) -> DeadLetter:
    (egress,) = result.outgoing_egresses
    letter = DeadLetter.FromString(decode(egress.argument, KafkaProducerRecord).value_bytes)
    assert not result.outgoing_messages and not result.delayed_invocations
    return letter


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{not json", "Failed to load JSON"),
        (b'{"text": 5}', "Failed to parse text field"),
        (b'{"txt": "typo"}', 'has no field named "txt"'),
        (b"\xff\xfe", "'utf-8' codec can't decode byte 0xff"),
        (b"[" * 100_000, "maximum recursion depth exceeded"),
    ],
)
def test_json_that_does_not_fit_the_message_is_dead_lettered_not_retried(
    impls: ModuleType, pb: ModuleType, caplog: pytest.LogCaptureFixture, body: bytes, problem: str
) -> None:
    driver = Driver(impls.app())
    with caplog.at_level(logging.WARNING, logger="sfidl.runtime"):
        letter = dead_letter(driver.invoke(CLIENT, "u1", as_json(pb.Note, body)))
    assert letter.message_typename == "type.googleapis.com/test.calls.Note+json"
    assert letter.reason.startswith("cannot decode a test.calls.Note from JSON: ")
    assert problem in letter.reason
    assert "dropped a message of type 'type.googleapis.com/test.calls.Note+json'" in caplog.text


def test_only_one_way_requests_have_a_json_form(impls: ModuleType, pb: ModuleType) -> None:
    driver = Driver(impls.app())
    body = b'{"correlationId": "0.0", "request": {"key": "a"}}'
    letter = dead_letter(driver.invoke(STORE, "a", as_json(pb.StoreGetCall, body)))
    assert letter.reason == "test.calls/store has no handler for this message type"


def test_the_application_lists_what_each_function_takes_from_an_ingress(
    impls: ModuleType, pb: ModuleType
) -> None:
    app = impls.app()
    assert app.ingress_typenames(STORE) == frozenset()  # an rpc only: nothing from an ingress
    assert app.ingress_typenames(OTHER) == {typename(pb.Note), typename(pb.Note) + "+json"}
    one_way = [
        pb.Start,
        pb.Pair,
        pb.Loop,
        pb.Measure,
        pb.Arm,
        pb.Publish,
        pb.Note,
        pb.Chain,
        pb.Open,
    ]
    assert app.ingress_typenames(CLIENT) == {
        name for cls in one_way for name in (typename(cls), typename(cls) + "+json")
    }


def test_an_exclusive_instance_holds_a_json_message_and_decodes_it_when_released(
    impls: ModuleType, pb: ModuleType
) -> None:
    desk = impls.Desk()
    driver = Driver(impls.app(desk=desk))
    call = driver.invoke(DESK, "d", pb.Start(key="a"))  # its call to Store.get is pending
    driver.invoke(DESK, "d", as_json(pb.Note, b'{"text": "held"}'))
    assert desk.handled == ["work a"]
    answered = driver.invoke(STORE, "a", forward(call, sender=(DESK, "d")))
    driver.invoke(DESK, "d", forward(answered, sender=(STORE, "a")))
    assert desk.handled == ["work a", "worked a", "note held from None"]
