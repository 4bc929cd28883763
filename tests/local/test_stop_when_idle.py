"""``--stop-when-idle``: stops once nothing is due within the horizon, and says what is left."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from sfidl.local.ingress import message_value
from sfidl.local.records import Address
from sfidl.local.run import LocalRuntime, RunOptions
from sfidl.local.store import Incoming
from tests.local.apps import TIMERS, Timer, demo_app

DEADLINE_S = 10.0


def arm(label: str, delay_ms: int) -> Incoming:
    return Incoming(
        Address.of(TIMERS, "t"), None, message_value(Timer(label=label, delay_ms=delay_ms))
    )


def run_until_idle(db: Path, horizon_s: float, *messages: Incoming) -> LocalRuntime:
    async def scenario() -> LocalRuntime:
        options = RunOptions(
            db=db,
            port=None,
            egress_port=None,
            egress_stdout=False,
            stop_when_idle=True,
            idle_horizon_s=horizon_s,
        )
        runtime = LocalRuntime(demo_app(), options)
        await runtime.start()
        try:
            runtime.engine.enqueue(list(messages))
            await asyncio.wait_for(runtime.run(), DEADLINE_S)
        finally:
            await runtime.close()
        return runtime

    return asyncio.run(scenario())


def fired(db: Path) -> int:
    """How many messages the runtime processed, as recorded in the database."""
    import sqlite3

    with sqlite3.connect(db) as connection:
        [(count,)] = connection.execute("SELECT value FROM counters WHERE name = 'processed'")
    return int(count)


def test_a_timer_far_beyond_the_horizon_does_not_keep_the_run_going(tmp_path, caplog):
    db = tmp_path / "db.sqlite"
    thirty_days = 30 * 24 * 3600 * 1000
    with caplog.at_level(logging.INFO, logger="sfidl.local"):
        run_until_idle(db, 60.0, arm("soon", 100), arm("later", thirty_days))
    # Both arms and the 100 ms timer (inside the horizon) ran; the 30-day one waits in the db.
    assert fired(db) == 3
    [idle] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("idle:")]
    assert idle.startswith("idle: 1 delayed message(s) remain, none due within 60s (the next at ")
    assert idle.endswith(f"they stay in {db} for the next run")


def test_with_nothing_delayed_it_says_so(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="sfidl.local"):
        run_until_idle(tmp_path / "db.sqlite", 0.0, arm("now", 0))
    assert "idle: nothing queued, in flight or delayed" in caplog.text


def test_a_zero_horizon_stops_before_a_timer_that_is_not_due_yet(tmp_path):
    db = tmp_path / "db.sqlite"
    run_until_idle(db, 0.0, arm("in a minute", 60_000))
    assert fired(db) == 1  # the arm only; the timer is left for the next run
