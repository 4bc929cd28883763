"""Messages per second through the local runtime, in-process and over HTTP on loopback, against the SDK alone.

The reference replays, in the same run, the very ``ToFunction`` requests the runtime sent,
straight into ``RequestReplyHandler.handle_async``: the difference is the runtime's own cost
(SQLite commits, scheduling, batching, transport). Run: ``.venv/bin/python benchmarks/local_runtime.py``.

Times are this process's CPU seconds (``time.process_time``), not the wall clock: all three
are CPU-bound in one process (over HTTP the function server runs in it too), and on a
machine shared with other work the CPU time is what stays comparable between them. On an
idle machine the two agree; messages per second are messages per CPU second.
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
    start = time.process_time()
    for chunk in range(0, MESSAGES, 250):  # as a JSON-lines ingress file queues them
        engine.enqueue(messages[chunk : chunk + 250])
    try:
        await engine.run_until_quiet()
        return store.counts().processed, time.process_time() - start
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
    start = time.process_time()
    for request in requests:
        await handler.handle_async(request)
    return time.process_time() - start


async def main(rounds: int = 3) -> None:
    """Each measure ``rounds`` times, interleaved, keeping the fastest: on a busy machine the
    other processes' load then weighs on the three alike."""
    best: dict[str, float] = {}
    counts: dict[str, int] = {}
    requests: list[bytes] = []

    def keep(name: str, delivered: int, seconds: float) -> None:
        counts[name] = delivered
        best[name] = min(seconds, best.get(name, seconds))

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
    reference = counts["SDK handle_async, same requests"] / best["SDK handle_async, same requests"]
    print(
        f"{MESSAGES} ingress messages to {KEYS} counters; each also messages the audit function and writes egress"
    )
    print(
        f"{counts['local runtime, in-process']} messages delivered in {len(requests)} requests"
        f" (in-process run); the fastest of {rounds} interleaved rounds\n"
    )
    print(f"{'':34} {'messages':>9} {'seconds':>8} {'msg/s':>9} {'vs SDK':>7}")
    for name in (
        "SDK handle_async, same requests",
        "local runtime, in-process",
        "local runtime, HTTP loopback",
    ):
        rate = counts[name] / best[name]
        print(f"{name:34} {counts[name]:9d} {best[name]:8.3f} {rate:9.0f} {rate / reference:7.2f}")


if __name__ == "__main__":
    asyncio.run(main())
