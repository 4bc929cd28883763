"""The HTTP endpoint StateFun calls (sfidl.runtime.http), on a real server at 127.0.0.1."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from statefun.kafka_egress_pb2 import KafkaProducerRecord
from statefun.request_reply_pb2 import FromFunction, ToFunction, TypedValue

from sfidl.runtime import Application
from sfidl.runtime.http import web_app
from sfidl.wire import OCTET_STREAM
from sfidl.runtime.internal_pb2 import DeadLetter
from tests.protocol import Driver, Envelope, typed
from tests.runtime.wire import CLIENT, STORE, decode, typename

Post = Callable[[bytes], Awaitable[tuple[ClientResponse, bytes]]]


def served(
    app: Any,
    scenario: Callable[[Post], Awaitable[None]],
    *,
    path: str = "/statefun",
    **options: Any,
) -> None:
    """Run ``scenario`` against ``app`` served on an ephemeral port, then stop the server."""

    async def run() -> None:
        server = TestServer(web_app(app, **options), host="127.0.0.1")
        async with TestClient(server) as client:

            async def post(body: bytes) -> tuple[ClientResponse, bytes]:
                response = await client.post(
                    path, data=body, headers={"Content-Type": OCTET_STREAM}
                )
                return response, await response.read()

            await asyncio.wait_for(scenario(post), timeout=30)

    asyncio.run(run())


def batch_for(typename: str, id: str, *envelopes: Envelope) -> ToFunction:
    """A ToFunction for ``typename``/``id`` carrying ``envelopes`` and no state."""
    request = ToFunction()
    target = request.invocation.target
    target.namespace, _, target.type = typename.partition("/")
    target.id = id
    for envelope in envelopes:
        entry = request.invocation.invocations.add()
        entry.argument.CopyFrom(envelope.value)
        if envelope.caller is not None:
            caller_type, entry.caller.id = envelope.caller
            entry.caller.namespace, _, entry.caller.type = caller_type.partition("/")
    return request


def letters(data: bytes) -> list[DeadLetter]:
    """The dead letters a FromFunction wrote (Kafka records of the dead-letter egress), checking
    that it does nothing else."""
    result = FromFunction.FromString(data).invocation_result
    assert not result.state_mutations and not result.outgoing_messages
    assert not result.delayed_invocations
    found = []
    for egress in result.outgoing_egresses:
        assert (egress.egress_namespace, egress.egress_type) == ("test.calls", "dead")
        found.append(
            DeadLetter.FromString(decode(egress.argument, KafkaProducerRecord).value_bytes)
        )
    return found


def test_bodies_statefun_never_sends_get_a_4xx_that_says_what_is_wrong(impls: ModuleType) -> None:
    no_target = ToFunction()
    no_target.invocation.invocations.add().argument.CopyFrom(typed(FromFunction()))
    cases = [
        (b"", 400, "empty request: expected a serialized StateFun ToFunction message"),
        (b"\xff\xff\xff", 400, "malformed request: not a serialized StateFun ToFunction message"),
        (b"\x08\x01", 400, "the request carries no invocation"),  # an unknown field only
        (no_target.SerializeToString(), 400, "the request names no target function"),
    ]

    async def scenario(post: Post) -> None:
        for body, status, text in cases:
            response, data = await post(body)
            assert (response.status, data.decode()) == (status, text + "\n"), body

    served(impls.app(), scenario)


def test_a_batch_for_a_function_type_the_app_does_not_serve_is_dead_lettered_with_a_200(
    impls: ModuleType, calls_out: Any
) -> None:
    """StateFun sends whatever its endpoint pattern (``test.calls/*``) covers; a 404 would be
    retried until the call timeout and then fail the whole job."""
    import calls_pb2 as pb

    first, second = typed(pb.Start(key="a")), typed(pb.Ask(key="b"))
    request = batch_for("test.calls/nope", "x", Envelope(first), Envelope(second, (CLIENT, "u1")))
    reason = (
        "this application serves no function test.calls/nope (it serves test.calls/store, "
        "test.calls/other, test.calls/client, test.calls/vault, test.calls/relay, "
        "test.calls/desk, test.calls/fanner)"
    )

    async def scenario(post: Post) -> None:
        response, data = await post(request.SerializeToString())
        assert response.status == 200
        assert response.headers["Content-Type"] == OCTET_STREAM
        assert letters(data) == [
            DeadLetter(
                function_typename="test.calls/nope",
                function_id="x",
                message_typename=first.typename,
                message_value=first.value,
                reason=reason,
            ),
            DeadLetter(
                function_typename="test.calls/nope",
                function_id="x",
                caller="test.calls/client/u1",
                message_typename=second.typename,
                message_value=second.value,
                reason=reason,
            ),
        ]

    served(impls.app(), scenario)


def test_without_a_dead_letter_egress_an_unserved_function_type_is_a_logged_drop(
    impls: ModuleType, calls_out: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import calls_pb2 as pb
    import calls_sfidl

    manifest = dataclasses.replace(calls_sfidl.MANIFEST, egresses=())
    implementations = [impls.Store(), impls.Other(), impls.Client(), impls.Vault()]
    app = Application(manifest, [*implementations, impls.Relay(), impls.Desk(), impls.Fanner()])
    request = batch_for("test.calls/nope", "x", Envelope(typed(pb.Start(key="a"))))

    async def scenario(post: Post) -> None:
        response, data = await post(request.SerializeToString())
        assert (response.status, FromFunction.FromString(data)) == (200, FromFunction())

    with caplog.at_level(logging.WARNING, logger="sfidl.runtime"):
        served(app, scenario)
    assert (
        "test.calls/nope/x: dropped a message of type 'type.googleapis.com/test.calls.Start'"
        in (caplog.text)
    )


def test_an_empty_batch_has_no_effects(impls: ModuleType) -> None:
    async def scenario(post: Post) -> None:
        for typename in (STORE, "test.calls/nope"):
            response, data = await post(batch_for(typename, "x").SerializeToString())
            assert (response.status, data) == (200, b"")

    served(impls.app(), scenario)


def test_messages_no_handler_takes_or_that_do_not_decode_are_dead_lettered_with_a_200(
    impls: ModuleType, calls_out: Any
) -> None:
    import calls_pb2 as pb

    app = impls.app()
    driver = Driver(app)
    driver.invoke(STORE, "a", pb.Start(key="a"))  # registers Store's states (handshake)
    garbled = TypedValue(typename=typename(pb.StoreGetCall), has_value=True, value=b"\xff\xff")
    untaken = typed(pb.Note(text="no handler of Store takes a Note"))
    body = driver.request(STORE, "a", [Envelope(garbled), Envelope(untaken, (CLIENT, "u1"))])

    async def scenario(post: Post) -> None:
        response, data = await post(body)
        assert response.status == 200
        found = letters(data)
        assert [(d.message_typename, d.caller) for d in found] == [
            (garbled.typename, ""),
            (untaken.typename, "test.calls/client/u1"),
        ]
        assert found[0].reason.startswith("cannot decode a test.calls.StoreGetCall")
        assert found[1].reason == "test.calls/store has no handler for this message type"

    served(app, scenario)


def test_a_batch_of_1000_messages_over_1_mib_is_taken_and_a_configured_limit_is_a_413(
    impls: ModuleType, calls_out: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import calls_pb2 as pb

    app = impls.app()
    driver = Driver(app)
    driver.invoke(STORE, "a", pb.Start(key="a"))
    call = pb.StoreGetCall(correlation_id="0.0", request=pb.Ask(key="a" * 2000))
    body = driver.request(STORE, "a", [Envelope(typed(call), (CLIENT, "u1"))] * 1000)
    assert len(body) > 1024 * 1024  # aiohttp's default limit

    async def taken(post: Post) -> None:
        response, data = await post(body)
        assert response.status == 200
        assert len(FromFunction.FromString(data).invocation_result.outgoing_messages) == 1000

    async def refused(post: Post) -> None:
        response, _ = await post(body)
        assert response.status == 413

    served(app, taken)
    with caplog.at_level(logging.ERROR, logger="sfidl.runtime"):
        served(app, refused, max_body_bytes=1024 * 1024)
    assert f"refused a request of {len(body)} bytes, over the limit of 1048576" in caplog.text
    assert "raise max_body_bytes of serve() or web_app()" in caplog.text


def test_a_url_path_ending_in_the_function_name_is_served_too(impls: ModuleType) -> None:
    async def scenario(post: Post) -> None:
        response, data = await post(batch_for(STORE, "x").SerializeToString())
        assert (response.status, data) == (200, b"")

    served(impls.app(), scenario, path="/statefun/store")


def test_valid_request_gets_the_response_as_octet_stream(impls: ModuleType, calls_out: Any) -> None:
    import calls_pb2 as pb

    app = impls.app()
    driver = Driver(app)
    driver.invoke(STORE, "a", pb.Start(key="a"))  # registers Store's states (handshake)
    call = pb.StoreGetCall(correlation_id="0.0", request=pb.Ask(key="a"))
    body = driver.request(STORE, "a", [Envelope(typed(call), (CLIENT, "u1"))])

    async def scenario(post: Post) -> None:
        response, data = await post(body)
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/octet-stream"
        result = FromFunction.FromString(data).invocation_result
        (message,) = result.outgoing_messages
        assert (message.target.type, message.target.id) == ("client", "u1")
        assert decode(message.argument, pb.StoreGetReply).reply == pb.Answer(key="a", value=1)

    served(app, scenario)


def test_missing_state_handshake_over_http(impls: ModuleType, calls_out: Any) -> None:
    import calls_pb2 as pb

    body = Driver(impls.app()).request(CLIENT, "u1", [Envelope(typed(pb.Start(key="a")))])

    async def scenario(post: Post) -> None:
        response, data = await post(body)
        assert response.status == 200
        missing = FromFunction.FromString(data).incomplete_invocation_context.missing_values
        assert [m.state_name for m in missing] == ["timer", "sfidl_runtime"]
        assert missing[1].type_typename == "type.googleapis.com/sfidl.v1.RuntimeState"

    served(impls.app(), scenario)


def test_failing_function_is_a_500(impls: ModuleType, calls_out: Any) -> None:
    import calls_pb2 as pb

    app = impls.app()
    driver = Driver(app)
    driver.invoke(STORE, "a", pb.Start(key="a"))
    call = pb.StoreGetCall(correlation_id="0.0", request=pb.Ask(key="boom"))
    body = driver.request(STORE, "boom", [Envelope(typed(call), (CLIENT, "u1"))])

    async def scenario(post: Post) -> None:
        response, data = await post(body)
        assert response.status == 500
        assert data == b"the function failed; see the function's log\n"

    served(app, scenario)


def test_state_values_the_functions_never_wrote_dead_letter_the_batch_with_a_200(
    impls: ModuleType, calls_out: Any
) -> None:
    """StateFun sends only what it registered and the functions wrote; anything else is no
    retry's: the batch is set aside and the state left as it is."""
    import calls_pb2 as pb

    app = impls.app()
    driver = Driver(app)
    driver.invoke(STORE, "a", pb.Start(key="a"))  # registers Store's states (handshake)
    call = [Envelope(typed(pb.StoreGetCall(correlation_id="0.0")), (CLIENT, "u1"))]
    retyped = ToFunction.FromString(driver.request(STORE, "a", call))
    (hits,) = [s for s in retyped.invocation.state if s.state_name == "hits"]
    hits.state_value.CopyFrom(typed(pb.Ask(key="a")))
    garbled = ToFunction()
    garbled.CopyFrom(retyped)
    (hits,) = [s for s in garbled.invocation.state if s.state_name == "hits"]
    hits.state_value.typename = "io.statefun.types/int"
    hits.state_value.value = b"\xff"
    cases = [
        (
            retyped,
            "state hits of test.calls/store holds a type.googleapis.com/test.calls.Ask, "
            "not the declared io.statefun.types/int",
        ),
        (garbled, "state hits of test.calls/store holds bytes that are no io.statefun.types/int"),
    ]

    async def scenario(post: Post) -> None:
        for request, reason in cases:
            response, data = await post(request.SerializeToString())
            assert response.status == 200
            (letter,) = letters(data)
            assert (letter.function_id, letter.caller, letter.reason) == (
                "a",
                "test.calls/client/u1",
                reason,
            )

    served(app, scenario)
