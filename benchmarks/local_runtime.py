"""Messages per second through the local runtime, in-process and over HTTP on loopback, against the SDK alone.

The reference replays, in the same run, the very ``ToFunction`` requests the runtime sent,
straight into ``RequestReplyHandler.handle_async``: the difference is the runtime's own cost
(SQLite commits, scheduling, batching, transport). Run: ``.venv/bin/python benchmarks/local_runtime.py``.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web
from statefun import RequestReplyHandler

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sfidl.local.clock import SystemClock  # noqa: E402
from sfidl.local.engine import Engine  # noqa: E402
from sfidl.local.ingress import message_value  # noqa: E402
from sfidl.local.records import Address  # noqa: E402
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


async def through_runtime(app: Recording, transport: Transport, db: Path) -> tuple[int, float]:
    """(messages delivered, seconds) for the workload through the engine on a SQLite file."""
    store = Store(db)
    engine = Engine(app.manifest, transport, store, SystemClock())
    messages = workload()
    start = time.perf_counter()
    for chunk in range(0, MESSAGES, 250):  # as a JSON-lines ingress file queues them
        engine.enqueue(messages[chunk : chunk + 250])
    try:
        await engine.run_until_quiet()
        return store.counts().processed, time.perf_counter() - start
    finally:
        await engine.close()
        await transport.close()
        store.close()


async def over_http(app: Recording, db: Path) -> tuple[int, float]:
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


async def direct(requests: list[bytes]) -> float:
    handler = RequestReplyHandler(demo_functions())
    start = time.perf_counter()
    for request in requests:
        await handler.handle_async(request)
    return time.perf_counter() - start


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        in_process_app = Recording()
        delivered, in_process = await through_runtime(
            in_process_app, InProcess(in_process_app), Path(folder) / "a.sqlite"
        )
        http_app = Recording()
        http_delivered, http = await over_http(http_app, Path(folder) / "b.sqlite")
    requests = in_process_app.requests
    reference = await direct(requests)
    batches = len(requests)
    print(
        f"{MESSAGES} ingress messages to {KEYS} counters; each also messages the audit function and writes egress"
    )
    print(f"{delivered} messages delivered in {batches} requests (in-process run)\n")
    rows = [
        ("SDK handle_async, same requests", delivered, reference),
        ("local runtime, in-process", delivered, in_process),
        ("local runtime, HTTP loopback", http_delivered, http),
    ]
    print(f"{'':34} {'messages':>9} {'seconds':>8} {'msg/s':>9} {'vs SDK':>7}")
    for name, count, seconds in rows:
        rate = count / seconds
        print(
            f"{name:34} {count:9d} {seconds:8.3f} {rate:9.0f} {rate / (delivered / reference):7.2f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
