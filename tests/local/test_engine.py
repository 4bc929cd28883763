"""The engine directly: batches formed while a request is in flight, FIFO, restarts, HTTP transport."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from statefun import StatefulFunctions, StringType, ValueSpec

from sfidl.local import codec
from sfidl.local.clock import VirtualClock
from sfidl.local.engine import Engine
from sfidl.local.ingress import message_value
from sfidl.local.records import Address
from sfidl.local.store import Incoming, Store
from sfidl.local.transport import Http, InProcess
from sfidl.runtime.manifest import Manifest
from tests.local.apps import GREET, Greet, SdkApp, until


def gated_app(gate: asyncio.Event) -> SdkApp:
    """``demo/slow`` appends each name to its state; its first invocation waits for ``gate``."""
    functions = StatefulFunctions()

    @functions.bind("demo/slow", specs=[ValueSpec("names", StringType)])
    async def slow(ctx: Any, message: Any) -> None:
        name = message.as_type(GREET).name
        if name == "first":
            await gate.wait()
        ctx.storage.names = (ctx.storage.names or "") + name + ","

    return SdkApp(functions, Manifest(namespace="demo", functions=("demo/slow",)))


def greet(id: str, name: str) -> Incoming:
    return Incoming(Address("demo", "slow", id), None, message_value(Greet(name=name)))


def test_messages_arriving_while_a_request_is_in_flight_form_the_next_batch():
    async def scenario() -> tuple[list[int], object]:
        gate = asyncio.Event()
        app = gated_app(gate)
        store = Store(":memory:")
        engine = Engine(app.manifest, InProcess(app), store, VirtualClock())
        engine.enqueue([greet("a", "first")])
        running = asyncio.create_task(engine.run_until_quiet())
        # the handshake, then the retry now waiting at the gate
        await until(lambda: len(app.requests) >= 2, "the retry at the gate")
        engine.enqueue([greet("a", "second"), greet("a", "third")])
        engine.enqueue([greet("a", "fourth")])
        gate.set()
        await running
        names = names_of(store, "a")
        await engine.close()
        store.close()
        return app.batches("demo/slow", "a"), names

    batches, names = asyncio.run(scenario())
    assert batches == [1, 1, 3]
    assert names == "first,second,third,fourth,"


def names_of(store: Store, id: str) -> object:
    typename, data = store.state(Address("demo", "slow", id), 0)["names"]
    return codec.decode(typename, data)


def test_messages_between_two_addresses_stay_in_order_across_batches():
    app = gated_app(asyncio.Event())

    async def scenario() -> tuple[object, object]:
        store = Store(":memory:")
        engine = Engine(app.manifest, InProcess(app), store, VirtualClock(), max_batch=7)
        for i in range(40):
            engine.enqueue([greet("a", f"a{i}"), greet("b", f"b{i}")])
            if i % 9 == 0:
                await asyncio.sleep(0)
        await engine.run_until_quiet()
        names = names_of(store, "a"), names_of(store, "b")
        await engine.close()
        store.close()
        return names

    a, b = asyncio.run(scenario())
    assert a == "".join(f"a{i}," for i in range(40))
    assert b == "".join(f"b{i}," for i in range(40))
    assert max(app.batches("demo/slow", "a")) <= 7


def test_a_batch_in_flight_at_shutdown_runs_again_after_restart_and_applies_once(tmp_path):
    db = tmp_path / "local.sqlite"

    async def crash_mid_flight() -> None:
        app = gated_app(asyncio.Event())  # never opened: "first" stays in flight
        store = Store(db)
        engine = Engine(app.manifest, InProcess(app), store, VirtualClock())
        engine.enqueue([greet("a", "zero")])
        await engine.run_until_quiet()
        engine.enqueue([greet("a", "first"), greet("a", "second")])
        running = asyncio.create_task(engine.run_until_quiet())
        await until(
            lambda: any(
                r.invocation.invocations[0].argument.value.endswith(b"first") for r in app.requests
            ),
            '"first" in flight',
        )
        running.cancel()
        await engine.close()
        store.close()

    async def restart() -> object:
        gate = asyncio.Event()
        gate.set()
        app = gated_app(gate)
        store = Store(db)
        engine = Engine(app.manifest, InProcess(app), store, VirtualClock())
        await engine.run_until_quiet()
        names = names_of(store, "a")
        await engine.close()
        store.close()
        return names

    asyncio.run(crash_mid_flight())
    assert asyncio.run(restart()) == "zero,first,second,"


def test_http_transport_posts_octet_stream_to_the_endpoint():
    async def scenario() -> tuple[object, list[str]]:
        app = gated_app(asyncio.Event())
        seen: list[str] = []

        async def statefun(request: web.Request) -> web.Response:
            seen.append(f"{request.path} {request.headers['Content-Type']}")
            body = await app.handle(await request.read())
            return web.Response(body=body, content_type="application/octet-stream")

        server = web.Application()
        server.router.add_post("/fn/{name}", statefun)
        runner = web.AppRunner(server)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        transport = Http(f"http://127.0.0.1:{port}/fn/{{function.name}}")
        store = Store(":memory:")
        engine = Engine(app.manifest, transport, store, VirtualClock())
        try:
            engine.enqueue([greet("a", "one"), greet("a", "two")])
            await engine.run_until_quiet()
            return names_of(store, "a"), seen
        finally:
            await engine.close()
            await transport.close()
            await runner.cleanup()
            store.close()

    names, seen = asyncio.run(scenario())
    assert names == "one,two,"
    assert seen[0] == "/fn/slow application/octet-stream" and len(seen) == 3


def test_concurrent_handshakes_of_one_function_type_both_retry():
    class SlowHandshake(SdkApp):
        """Holds every answer until two requests are in flight, so both addresses see no state."""

        async def handle(self, request: bytes) -> bytes:
            answer = await super().handle(request)
            await until(
                lambda: sum(1 for r in self.requests if not r.invocation.state) >= 2,
                "two requests without state",
            )
            return answer

    plain = gated_app(asyncio.Event())
    app = SlowHandshake(plain._handler.functions, plain.manifest)

    async def scenario() -> tuple[object, object]:
        store = Store(":memory:")
        engine = Engine(app.manifest, InProcess(app), store, VirtualClock())
        engine.enqueue([greet("a", "one"), greet("b", "two")])
        await engine.run_until_quiet()
        names = names_of(store, "a"), names_of(store, "b")
        await engine.close()
        store.close()
        return names

    assert asyncio.run(scenario()) == ("one,", "two,")
