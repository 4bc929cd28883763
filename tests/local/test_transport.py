"""The HTTP transport on its own: how it reads a function's answers, whatever their shape."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from sfidl.local.records import Address
from sfidl.local.transport import Http, TransportError
from sfidl.wire import OCTET_STREAM

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TARGET = Address.of("demo/greeter", "a")
DEADLINE_S = 30


@asynccontextmanager
async def function_server(handler: Handler) -> AsyncIterator[str]:
    """A function endpoint on 127.0.0.1: its URL, with ``{function.name}`` to fill in."""
    server = web.Application()
    server.router.add_post("/fn/{name}", handler)
    runner = web.AppRunner(server)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/fn/{{function.name}}"
    finally:
        await runner.cleanup()


async def calls(handler: Handler, *requests: bytes, host: str = "127.0.0.1") -> list[bytes]:
    """The answers to ``requests``, sent one after another through one transport to ``host``."""
    async with function_server(handler) as url:
        transport = Http(url.replace("127.0.0.1", host))
        try:
            return [
                await asyncio.wait_for(transport.call(TARGET, request), DEADLINE_S)
                for request in requests
            ]
        finally:
            await transport.close()


def echo(times: int) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=await request.read() * times, content_type=OCTET_STREAM)

    return handler


def test_answers_are_read_whole_small_or_in_many_segments():
    big = bytes(range(256)) * 4096  # 1 MiB: more than one read from the socket
    assert asyncio.run(calls(echo(1), b"one", big, b"two")) == [b"one", big, b"two"]


def test_a_streamed_answer_without_a_length_is_read_to_its_end():
    async def chunked(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": OCTET_STREAM})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for part in (b"first ", b"second ", b"third"):
            await response.write(part)
            await asyncio.sleep(0.01)  # the parts reach the client apart
        await response.write_eof()
        return response

    assert asyncio.run(calls(chunked, b"x", b"y")) == [b"first second third"] * 2


def test_an_empty_answer_needs_no_content_type():
    async def empty(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=200)

    assert asyncio.run(calls(empty, b"x", b"y")) == [b"", b""]


def test_requests_name_the_function_type_and_reuse_one_connection_with_no_cookies():
    seen: list[tuple[str, object, str, str, str, str | None]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(
            (
                request.path,
                request.transport,
                request.headers["Content-Type"],
                request.headers["Accept"],
                request.headers["Accept-Encoding"],
                request.headers.get("Cookie"),
            )
        )
        response = web.Response(body=await request.read(), content_type=OCTET_STREAM)
        response.set_cookie("session", "from-the-function")
        return response

    # By name, not IP address: aiohttp's default cookie jar keeps no cookies from an IP address.
    answers = asyncio.run(calls(handler, b"a", b"b", b"c", host="localhost"))
    assert answers == [b"a", b"b", b"c"]
    assert [s[0] for s in seen] == ["/fn/greeter"] * 3
    assert len({id(s[1]) for s in seen}) == 1  # one connection, kept alive
    # As the real runtime, no cookie goes back: a function's answer sets nothing for the next.
    assert {s[2:] for s in seen} == {(OCTET_STREAM, OCTET_STREAM, "identity", None)}


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        (
            "text/plain",
            r"answered Content-Type 'text/plain'; StateFun requires 'application/octet-stream'",
        ),
        (
            "application/octet-stream; charset=utf-8",
            r"answered Content-Type 'application/octet-stream; charset=utf-8'; StateFun requires",
        ),
    ],
)
def test_an_answer_of_another_content_type_is_refused(content_type: str, message: str):
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=b"not protobuf", headers={"Content-Type": content_type})

    with pytest.raises(TransportError, match=r"POST http://127.0.0.1:\d+/fn/greeter " + message):
        asyncio.run(calls(handler, b"x"))


def test_an_error_answer_read_in_many_segments_names_its_start():
    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=503, body=b"overloaded " * 200_000)

    with pytest.raises(
        TransportError,
        match=r"POST http://127.0.0.1:\d+/fn/greeter answered HTTP 503: overloaded overloaded",
    ):
        asyncio.run(calls(handler, b"x"))


def test_a_closed_transport_opens_a_new_session_on_its_next_call():
    async def scenario() -> list[bytes]:
        async with function_server(echo(2)) as url:
            transport = Http(url)
            try:
                first = await asyncio.wait_for(transport.call(TARGET, b"a"), DEADLINE_S)
                await transport.close()
                return [first, await asyncio.wait_for(transport.call(TARGET, b"b"), DEADLINE_S)]
            finally:
                await transport.close()

    assert asyncio.run(scenario()) == [b"aa", b"bb"]


def test_an_answer_cut_short_is_a_failure_of_the_call():
    async def truncated(request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": OCTET_STREAM})
        response.content_length = 1000
        await response.prepare(request)
        await response.write(b"only part of it")
        assert request.transport is not None
        request.transport.close()  # the function's process dies mid-answer
        return response

    with pytest.raises(TransportError, match=r"POST http://127.0.0.1:\d+/fn/greeter failed: "):
        asyncio.run(calls(truncated, b"x"))


def test_a_compressed_answer_is_refused_as_such_not_misread():
    async def handler(request: web.Request) -> web.Response:
        await request.read()  # the client asked for identity; this server compresses anyway
        body = gzip.compress(b"\x0a\x00")
        headers = {"Content-Type": OCTET_STREAM, "Content-Encoding": "gzip"}
        return web.Response(body=body, headers=headers)

    with pytest.raises(
        TransportError,
        match=r"POST http://127.0.0.1:\d+/fn/greeter answered Content-Encoding 'gzip' though",
    ):
        asyncio.run(calls(handler, b"x"))


def test_an_upgraded_connection_is_closed_not_kept():
    """A 101 answer (a misbehaving endpoint or proxy) fails the call, and the client closes
    the connection: aiohttp never gives an upgraded one back to its pool."""

    async def scenario() -> tuple[str, bytes]:
        closed: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

        async def endpoint(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(1)  # the request's body, b"x"
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\n\r\n"
            )
            await writer.drain()
            closed.set_result(await reader.read())  # b"" once the client closes its end
            writer.close()

        server = await asyncio.start_server(endpoint, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport = Http(f"http://127.0.0.1:{port}/fn")
        try:
            with pytest.raises(TransportError) as failure:
                await asyncio.wait_for(transport.call(TARGET, b"x"), DEADLINE_S)
            return str(failure.value), await asyncio.wait_for(closed, DEADLINE_S)
        finally:
            await transport.close()
            server.close()
            await server.wait_closed()

    message, rest = asyncio.run(scenario())
    assert message == f"POST {message.split()[1]} answered HTTP 101: "
    assert rest == b""


def test_a_call_cancelled_while_waiting_leaves_the_transport_usable():
    async def scenario() -> list[bytes]:
        slow = asyncio.Event()

        async def handler(request: web.Request) -> web.Response:
            body = await request.read()
            if body == b"slow":
                await asyncio.wait_for(slow.wait(), DEADLINE_S)
            return web.Response(body=body, content_type=OCTET_STREAM)

        async with function_server(handler) as url:
            transport = Http(url)
            try:
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(transport.call(TARGET, b"slow"), 0.05)
                slow.set()
                return [
                    await asyncio.wait_for(transport.call(TARGET, body), DEADLINE_S)
                    for body in (b"a", b"b")
                ]
            finally:
                await transport.close()

    assert asyncio.run(scenario()) == [b"a", b"b"]
