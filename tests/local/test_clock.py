"""An in-process application reads the engine's clock: the virtual one under the Harness."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sfidl.local.app import ClockedApp
from sfidl.local.clock import EPOCH, MILLISECOND, SystemClock
from sfidl.local.run import LocalRuntime, RunOptions
from sfidl.local.transport import InProcess
from sfidl.testing import Harness
from tests.local.apps import COUNTER, MANIFEST, Increment, SdkApp, demo_functions

START = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


class ClockedDemo(SdkApp):
    """The demo app, taking a clock as sfidl's Application does; it notes the time of each request."""

    def __init__(self) -> None:
        super().__init__(demo_functions(), MANIFEST)
        self.now_ms: Callable[[], int] | None = None
        self.seen_at: list[datetime] = []

    def use_clock(self, now_ms: Callable[[], int]) -> None:
        self.now_ms = now_ms

    async def handle(self, request: bytes) -> bytes:
        assert self.now_ms is not None
        self.seen_at.append(EPOCH + self.now_ms() * MILLISECOND)
        return await super().handle(request)


def test_the_harness_gives_an_in_process_app_its_virtual_clock():
    app = ClockedDemo()
    assert isinstance(app, ClockedApp)
    with Harness(app, start=START) as h:
        h.send(COUNTER, "a", Increment(by=1))
        h.run_until_quiet()
        h.advance(timedelta(hours=1))
        h.send(COUNTER, "a", Increment(by=1))
        h.run_until_quiet()
    counter = [
        at for at, r in zip(app.seen_at, app.requests) if r.invocation.target.type == "counter"
    ]
    assert counter[0] == START
    assert counter[-1] == START + timedelta(hours=1)
    # Closed, the harness gives the application (which may serve another test) the wall clock back.
    assert app.now_ms is not None
    before = SystemClock().now_ms()
    assert before <= app.now_ms() <= SystemClock().now_ms()


def test_an_app_without_use_clock_runs_as_before():
    app = SdkApp(demo_functions(), MANIFEST)
    assert not isinstance(app, ClockedApp)
    with Harness(app) as h:
        h.send(COUNTER, "a", Increment(by=1))
        h.run_until_quiet()
        assert h.state(COUNTER, "a", "total") == 1


def test_sfidl_run_gives_an_in_process_app_the_wall_clock_and_a_remote_one_nothing(tmp_path: Path):
    async def start(remote: bool) -> ClockedDemo:
        app = ClockedDemo()
        options = RunOptions(
            db=tmp_path / f"{remote}.sqlite", port=None, egress_port=None, remote=remote
        )
        runtime = LocalRuntime(app, options)
        await runtime.start()
        await runtime.close()
        return app

    local = asyncio.run(start(remote=False))
    assert local.now_ms is not None
    before = SystemClock().now_ms()
    assert before <= local.now_ms() <= SystemClock().now_ms()
    assert asyncio.run(start(remote=True)).now_ms is None


def test_an_in_process_transport_without_a_clock_leaves_the_app_its_own():
    app = ClockedDemo()
    InProcess(app)
    assert app.now_ms is None
