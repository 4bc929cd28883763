"""Messages per second through the local runtime, in-process and over HTTP on loopback, against the SDK alone.

The reference replays, in the same run, the very ``ToFunction`` requests the runtime sent,
straight into ``RequestReplyHandler.handle_async``: the difference is the runtime's own cost
(SQLite commits, scheduling, batching, transport). Run: ``.venv/bin/python benchmarks/local_runtime.py``.

Each measure runs 3 times, interleaved, and the fastest run counts (on a machine shared with
other work, their load then weighs on all three alike). Reported per row: wall-clock
seconds and messages per second, the ratio to the SDK on those, and this process's CPU
seconds (over HTTP the function server runs in it too) with the ratio on those: waiting on
the disk (a commit's writes) costs wall-clock time and no CPU.

``--count`` instead runs the in-process measure once more and counts what does not move with
the machine's load: the Python bytecodes run per message (the SDK's, the engine's and
asyncio's alike; work in C, SQLite's and protobuf's, is not counted), against those of the
SDK alone on the same requests, and the SQLite statements per request; then the bytecodes per
request of the HTTP transport's side alone (aiohttp's client and the event loop, the function
server on another thread), sending the same requests one at a time.
"""

from __future__ import annotations

import asyncio
import selectors
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from aiohttp import web
from statefun import RequestReplyHandler

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sfidl.local.clock import SystemClock  # noqa: E402
from sfidl.local.engine import Engine  # noqa: E402
from sfidl.local.ingress import message_value  # noqa: E402
from sfidl.local.records import Address  # noqa: E402
from sfidl.local import store as store_module  # noqa: E402
from sfidl.local.store import Incoming, Store  # noqa: E402
from sfidl.local.transport import Http, InProcess, Transport  # noqa: E402
from sfidl.runtime.manifest import Manifest  # noqa: E402
from tests.local.apps import COUNTER, MANIFEST, Increment, demo_functions  # noqa: E402

MESSAGES = 5000
KEYS = 500


class Recording:
    """The demo application over the SDK's handler, keeping the request bytes it was sent."""

    def __init__(self) -> None:
        self.manifest: Manifest = MANIFEST
        self.handler = RequestReplyHandler(demo_functions())
        self.requests: list[bytes] = []

    async def handle(self, request: bytes) -> bytes:
        self.requests.append(request)
        answer: bytes = await self.handler.handle_async(request)
        return answer


def workload() -> list[Incoming]:
    return [
        Incoming(Address.of(COUNTER, f"k{i % KEYS}"), None, message_value(Increment(by=i % 7 + 1)))
        for i in range(MESSAGES)
    ]


Seconds = tuple[float, float]
"""Wall-clock and CPU seconds."""


def clocks() -> Seconds:
    return time.perf_counter(), time.process_time()


def since(start: Seconds) -> Seconds:
    wall, cpu = clocks()
    return wall - start[0], cpu - start[1]


async def through_runtime(app: Recording, transport: Transport, db: Path) -> tuple[int, Seconds]:
    """(messages delivered, seconds) for the workload through the engine on a SQLite file."""
    store = Store(db)
    engine = Engine(app.manifest, transport, store, SystemClock())
    messages = workload()
    start = clocks()
    for chunk in range(0, MESSAGES, 250):  # as a JSON-lines ingress file queues them
        engine.enqueue(messages[chunk : chunk + 250])
    try:
        await engine.run_until_quiet()
        return store.counts().processed, since(start)
    finally:
        await engine.close()
        await transport.close()
        store.close()


async def over_http(app: Recording, db: Path) -> tuple[int, Seconds]:
    async def statefun(request: web.Request) -> web.Response:
        return web.Response(
            body=await app.handle(await request.read()), content_type="application/octet-stream"
        )

    server = web.Application()
    server.router.add_post("/statefun", statefun)
    runner = web.AppRunner(server, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        return await through_runtime(
            app, Http(f"http://127.0.0.1:{runner.addresses[0][1]}/statefun"), db
        )
    finally:
        await runner.cleanup()


async def direct(requests: list[bytes]) -> Seconds:
    handler = RequestReplyHandler(demo_functions())
    start = clocks()
    for request in requests:
        await handler.handle_async(request)
    return since(start)


class Bytecodes:
    """Counts the Python bytecodes run while it is on (``sys.settrace`` with opcode events)."""

    def __init__(self) -> None:
        self.count = 0

    def _trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        frame.f_trace_lines = False
        if event == "opcode":
            self.count += 1
            self._opcode(frame)
        return self._trace

    def _opcode(self, frame: FrameType) -> None:
        """Called for each bytecode counted, for a subclass to count more."""

    def __enter__(self) -> Bytecodes:
        sys.settrace(self._trace)
        return self

    def __exit__(self, *exc: object) -> None:
        sys.settrace(None)


class SplitBytecodes(Bytecodes):
    """Also counts, in ``asyncio``, those of asyncio's event loop (and its ``selectors``)."""

    def __init__(self) -> None:
        super().__init__()
        self.asyncio = 0

    def _opcode(self, frame: FrameType) -> None:
        if frame.f_code.co_filename.startswith(_EVENT_LOOP):
            self.asyncio += 1


_EVENT_LOOP = (str(Path(asyncio.__file__).parent), selectors.__file__)


async def http_client(requests: list[bytes]) -> SplitBytecodes:
    """The bytecodes of the HTTP transport's side alone (aiohttp's client and the event
    loop's), over ``requests`` sent one after another: the function server (the SDK's handler
    behind aiohttp's server, as in :func:`over_http`) runs on an event loop of its own in
    another thread, which ``sys.settrace`` here does not trace."""
    ready = threading.Event()
    port: list[int] = []
    stop: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def serve() -> None:
        handler = RequestReplyHandler(demo_functions())

        async def statefun(request: web.Request) -> web.Response:
            answer = await handler.handle_async(await request.read())
            return web.Response(body=answer, content_type="application/octet-stream")

        server = web.Application()
        server.router.add_post("/statefun", statefun)
        runner = web.AppRunner(server, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        done = asyncio.Event()
        port.append(runner.addresses[0][1])
        stop.append((asyncio.get_running_loop(), done))
        ready.set()
        await done.wait()
        await runner.cleanup()

    # A daemon: should the server hang, the benchmark still ends.
    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not ready.wait(0.1):
        if not thread.is_alive() or time.monotonic() > deadline:
            raise SystemExit("the function server did not start within 30 s")
    transport = Http(f"http://127.0.0.1:{port[0]}/statefun")
    target = Address.of(COUNTER, "k0")  # the URL has no {function.name}: any target
    try:
        for request in requests[:50]:  # a connection, and aiohttp's caches, warm
            await transport.call(target, request)
        client = SplitBytecodes()
        with client:
            for request in requests:
                await transport.call(target, request)
        return client
    finally:
        await transport.close()
        loop, done = stop[0]
        loop.call_soon_threadsafe(done.set)
        thread.join(30)
        if thread.is_alive():
            print("warning: the function server thread did not stop within 30 s")


async def count() -> None:
    """Bytecodes per message through the runtime in-process and through the SDK alone, and
    SQLite statements per request."""
    statements = runs = 0
    execute, executemany = store_module._Connection.execute, store_module._Connection.executemany

    def counted_execute(db: Any, sql: str, parameters: Any = (), /) -> Any:
        nonlocal statements, runs
        statements, runs = statements + 1, runs + 1
        return execute(db, sql, parameters)

    def counted_executemany(db: Any, sql: str, parameters: Any, /) -> Any:
        nonlocal statements, runs
        rows = list(parameters)  # each row runs the statement once
        statements, runs = statements + 1, runs + len(rows)
        return executemany(db, sql, rows)

    with tempfile.TemporaryDirectory() as folder:
        app = Recording()
        await through_runtime(app, InProcess(app), Path(folder) / "warm.sqlite")
        app = Recording()
        setattr(store_module._Connection, "execute", counted_execute)
        setattr(store_module._Connection, "executemany", counted_executemany)
        try:
            with Bytecodes() as runtime:
                delivered, _ = await through_runtime(app, InProcess(app), Path(folder) / "a.sqlite")
        finally:
            setattr(store_module._Connection, "execute", execute)
            setattr(store_module._Connection, "executemany", executemany)
    with Bytecodes() as sdk:
        await direct(app.requests)
    requests = len(app.requests)
    print(f"{delivered} messages in {requests} requests, in-process\n")
    print(
        f"Python bytecodes per message: runtime {runtime.count / delivered:.0f}, of which the SDK"
    )
    print(
        f"  alone on the same requests {sdk.count / delivered:.0f}: ratio {sdk.count / runtime.count:.2f}"
    )
    print(
        f"SQLite statements per request: {statements / requests:.1f}, run"
        f" {runs / requests:.1f} times (an executemany runs its statement once per row)"
    )
    client = await http_client(app.requests)
    print(
        f"HTTP transport's side, per request sent one at a time: {client.count / requests:.0f}"
        f" bytecodes, of which asyncio's (its event loop and selectors)"
        f" {client.asyncio / requests:.0f} (the loop's vary a little with how often it waits)"
    )


async def main(rounds: int = 3) -> None:
    """Each measure ``rounds`` times, interleaved, keeping the fastest: on a busy machine the
    other processes' load then weighs on the three alike."""
    best: dict[str, Seconds] = {}
    counts: dict[str, int] = {}
    requests: list[bytes] = []

    def keep(name: str, delivered: int, seconds: Seconds) -> None:
        counts[name] = delivered
        wall, cpu = best.get(name, seconds)
        best[name] = min(wall, seconds[0]), min(cpu, seconds[1])

    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as folder:
            in_process_app = Recording()
            keep(
                "local runtime, in-process",
                *await through_runtime(
                    in_process_app, InProcess(in_process_app), Path(folder) / "a.sqlite"
                ),
            )
            keep(
                "local runtime, HTTP loopback",
                *await over_http(Recording(), Path(folder) / "b.sqlite"),
            )
        requests = in_process_app.requests
        keep(
            "SDK handle_async, same requests",
            counts["local runtime, in-process"],
            await direct(requests),
        )
    sdk = "SDK handle_async, same requests"
    print(
        f"{MESSAGES} ingress messages to {KEYS} counters; each also messages the audit function and writes egress"
    )
    print(
        f"{counts['local runtime, in-process']} messages delivered in {len(requests)} requests"
        f" (in-process run); the fastest of {rounds} interleaved rounds\n"
    )
    print(
        f"{'':34} {'messages':>9} {'seconds':>8} {'msg/s':>9} {'vs SDK':>7}"
        f" {'CPU s':>7} {'vs SDK':>7}"
    )
    for name in (sdk, "local runtime, in-process", "local runtime, HTTP loopback"):
        (wall, cpu), count = best[name], counts[name]
        print(
            f"{name:34} {count:9d} {wall:8.3f} {count / wall:9.0f}"
            f" {best[sdk][0] / counts[sdk] / (wall / count):7.2f}"
            f" {cpu:7.3f} {best[sdk][1] / counts[sdk] / (cpu / count):7.2f}"
        )


if __name__ == "__main__":
    asyncio.run(count() if "--count" in sys.argv[1:] else main())
