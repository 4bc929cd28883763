"""The HTTP endpoint StateFun calls (sfidl.runtime.http), on a real server at 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from statefun.request_reply_pb2 import FromFunction, ToFunction

from sfidl.runtime.http import OCTET_STREAM, web_app
from tests.protocol import Driver, Envelope, typed
from tests.runtime.wire import CLIENT, STORE, decode

Post = Callable[[bytes], Awaitable[tuple[ClientResponse, bytes]]]


def served(app: Any, scenario: Callable[[Post], Awaitable[None]]) -> None:
    """Run ``scenario`` against ``app`` served on an ephemeral port, then stop the server."""

    async def run() -> None:
        async with TestClient(TestServer(web_app(app), host="127.0.0.1")) as client:

            async def post(body: bytes) -> tuple[ClientResponse, bytes]:
                response = await client.post(
                    "/statefun", data=body, headers={"Content-Type": OCTET_STREAM}
                )
                return response, await response.read()

            await asyncio.wait_for(scenario(post), timeout=30)

    asyncio.run(run())


def test_bad_requests_get_a_4xx_that_says_what_is_wrong(impls: ModuleType) -> None:
    unknown = ToFunction()
    unknown.invocation.target.namespace = "test.calls"
    unknown.invocation.target.type = "nope"
    unknown.invocation.target.id = "x"
    unknown.invocation.invocations.add().argument.CopyFrom(typed(FromFunction()))
    empty_batch = ToFunction()
    empty_batch.invocation.target.namespace = "test.calls"
    empty_batch.invocation.target.type = "store"
    empty_batch.invocation.target.id = "x"
    cases = [
        (b"", 400, "empty request: expected a serialized StateFun ToFunction message"),
        (b"\xff\xff\xff", 400, "malformed request: not a serialized StateFun ToFunction message"),
        (b"\x08\x01", 400, "the request carries no invocation"),  # an unknown field only
        (
            unknown.SerializeToString(),
            404,
            "unknown function type test.calls/nope; this endpoint serves test.calls/store, "
            "test.calls/other, test.calls/client, test.calls/vault, test.calls/relay, "
            "test.calls/desk, test.calls/fanner",
        ),
        (empty_batch.SerializeToString(), 400, "the request carries an empty batch"),
    ]

    async def scenario(post: Post) -> None:
        for body, status, text in cases:
            response, data = await post(body)
            assert (response.status, data.decode()) == (status, text + "\n"), body

    served(impls.app(), scenario)


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


def test_state_values_the_functions_never_wrote_are_a_400(
    impls: ModuleType, calls_out: Any
) -> None:
    """StateFun sends only what it registered and the functions wrote; anything else is no retry's."""
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
        for request, text in cases:
            response, data = await post(request.SerializeToString())
            assert (response.status, data.decode()) == (400, text + "\n")

    served(app, scenario)
