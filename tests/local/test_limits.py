"""Bounds: a remote function that fails or never answers, and ingress backpressure on long backlogs."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from sfidl.local import ingress
from sfidl.local.clock import VirtualClock
from sfidl.local.engine import Engine
from sfidl.local.errors import JobFailure
from sfidl.local.store import Store
from sfidl.local.run import YOUNG_COLLECTION, fewer_collections
from sfidl.local.transport import Http, InProcess
from tests.local.apps import until
from tests.local.test_engine import gated_app, greet, names_of

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def function_server(handler: Handler) -> AsyncIterator[str]:
    server = web.Application()
    server.router.add_post("/statefun", handler)
    runner = web.AppRunner(server)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/statefun"
    finally:
        await runner.cleanup()


async def deliver_one(url: str, **options: float) -> None:
    app = gated_app(asyncio.Event())
    transport = Http(url)
    store = Store(":memory:")
    engine = Engine(app.manifest, transport, store, VirtualClock(), **options)
    try:
        engine.enqueue([greet("a", "one")])
        await engine.run_until_quiet()
    finally:
        await engine.close()
        await transport.close()
        store.close()


def test_an_unreachable_function_fails_the_job_naming_the_endpoint():
    with pytest.raises(
        JobFailure,
        match=r"function demo/slow/a .*failure forwarding a message to a remote function after 2 attempts:"
        r" POST http://127.0.0.1:9/statefun failed",
    ):
        # The discard port: nothing listens.
        asyncio.run(deliver_one("http://127.0.0.1:9/statefun", attempts=2, retry_delay_s=0.001))


def test_a_function_answering_500_is_retried_then_fails_the_job_with_its_answer():
    calls = []

    async def broken(request: web.Request) -> web.Response:
        calls.append(request.path)
        return web.Response(status=500, text="database unreachable")

    async def scenario() -> None:
        async with function_server(broken) as url:
            await deliver_one(url, attempts=3, retry_delay_s=0.001)

    with pytest.raises(
        JobFailure,
        match=r"function demo/slow/a .*failure forwarding a message to a remote function after 3 attempts:"
        r" POST http://127.0.0.1:\d+/statefun answered HTTP 500: database unreachable",
    ):
        asyncio.run(scenario())
    assert len(calls) == 3


def test_a_function_that_never_answers_fails_the_job_after_the_call_timeout():
    async def scenario() -> None:
        released = asyncio.Event()

        async def hangs(request: web.Request) -> web.Response:
            await released.wait()
            return web.Response(status=500)

        async with function_server(hangs) as url:
            try:
                await deliver_one(url, attempts=5, call_timeout_s=0.2)
            finally:
                released.set()  # lets the server shut down

    with pytest.raises(JobFailure, match=r"no answer within the call timeout of 0.2 s"):
        asyncio.run(scenario())


def test_a_call_timing_out_after_others_answered_fails_the_job_naming_its_address():
    """The engine keeps every request's call timeout with one timer, armed for the oldest
    request in flight: once that one answered, the timer still times out the next."""

    async def scenario() -> None:
        gate = asyncio.Event()
        app = gated_app(gate)
        store = Store(":memory:")
        engine = Engine(app.manifest, InProcess(app), store, VirtualClock(), call_timeout_s=0.3)
        try:
            engine.enqueue([greet("a", "quick")])
            await engine.run_until_quiet()  # answered: the timer stays armed for its deadline
            await asyncio.sleep(0.1)
            engine.enqueue([greet("b", "first")])  # waits at the gate past its own deadline
            async with asyncio.timeout(30):  # the test's own deadline, should the call's fail
                await engine.run_until_quiet()
        finally:
            gate.set()
            await engine.close()
            store.close()

    with pytest.raises(
        JobFailure, match=r"function demo/slow/b .*no answer within the call timeout of 0.3 s"
    ):
        asyncio.run(scenario())


def test_closing_the_engine_during_a_call_is_no_timeout_and_keeps_the_message_queued():
    async def scenario() -> tuple[int, list[int]]:
        app = gated_app(asyncio.Event())  # never opened: the call waits until cancelled
        store = Store(":memory:")
        engine = Engine(app.manifest, InProcess(app), store, VirtualClock(), call_timeout_s=30)
        engine.enqueue([greet("a", "first")])
        running = asyncio.create_task(engine.run_until_quiet())
        await until(lambda: len(app.requests) >= 2, "the call waiting at the gate")
        await engine.close()
        await running  # no failure: the batch simply re-runs after a restart
        queued = store.counts().queued
        store.close()
        return queued, app.batches("demo/slow", "a")

    queued, batches = asyncio.run(scenario())
    assert queued == 1
    assert batches == [1, 1]  # the handshake, then the call that was cancelled


def test_an_ingress_file_pauses_while_an_address_has_a_full_backlog(tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_text(
        "".join(
            f'{{"target": "demo/slow/a", "typename": "type.googleapis.com/sfidl.demo.Greet",'
            f' "value": {{"name": "{name}"}}}}\n'
            for name in ["first"] + [f"n{i}" for i in range(40)]
        )
    )

    async def scenario() -> tuple[int, object, list[int]]:
        gate = asyncio.Event()
        app = gated_app(gate)
        store = Store(":memory:")
        engine = Engine(app.manifest, InProcess(app), store, VirtualClock(), max_batch=5)
        running = asyncio.create_task(engine.run())
        paused = 0  # readers suspended in the engine's room(): only a full backlog suspends them

        async def room() -> None:
            nonlocal paused
            paused += 1
            try:
                await engine.room()
            finally:
                paused -= 1

        reader = asyncio.create_task(
            ingress.follow_file(
                path, app.manifest, engine.enqueue, 0, follow=False, room=room, chunk=2
            )
        )
        # "first" waits at the gate, so the backlog stays full and the reader stays paused.
        await until(lambda: paused > 0, "the reader to pause for room")
        waiting = store.counts().queued
        assert not reader.done()
        gate.set()
        await reader
        await until(lambda: engine.quiet and store.counts().queued == 0, "an empty queue")
        engine.stop()
        await running
        names = names_of(store, "a")
        await engine.close()
        store.close()
        return waiting, names, app.batches("demo/slow", "a")

    waiting, names, batches = asyncio.run(scenario())
    # The reader stops once 5 messages wait (the in-flight one and one chunk of 2 past the cap at most).
    assert 5 <= waiting <= 7
    assert names == "first," + "".join(f"n{i}," for i in range(40))
    assert max(batches) <= 5


def test_a_function_behind_a_compressing_server_is_answered_uncompressed():
    """The transport reads answers as they are: it asks for no compression, so a function
    behind a middleware or proxy that compresses what the client accepts still works."""
    answer = b"from function " * 100

    async def compressing(request: web.Request) -> web.Response:
        await request.read()
        response = web.Response(body=answer, content_type="application/octet-stream")
        response.enable_compression()  # as the client's Accept-Encoding allows
        return response

    async def scenario() -> bytes:
        async with function_server(compressing) as url:
            transport = Http(url)
            try:
                return await asyncio.wait_for(
                    transport.call(ingress.address_of_path("/demo/slow/a"), b"request"), 30
                )
            finally:
                await transport.close()

    assert asyncio.run(scenario()) == answer


def test_the_collector_threshold_is_raised_while_serving_and_restored_after_a_failure():
    before = gc.get_threshold()
    with pytest.raises(RuntimeError):
        with fewer_collections():
            assert gc.get_threshold() == (YOUNG_COLLECTION, *before[1:])
            raise RuntimeError("the runtime failed")
    assert gc.get_threshold() == before
