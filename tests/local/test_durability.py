"""Durability on one machine: one process per database, crashes between a response and its commit,
egress files caught up per topic, delayed messages due while the runtime was down, redeploys,
a stop with a batch in flight."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from statefun import IntType, StatefulFunctions, StringType, ValueSpec

from sfidl.local.clock import VirtualClock
from sfidl.local.egress import FileSink
from sfidl.local.engine import Engine
from sfidl.local.errors import LocalRuntimeError, StoreError
from sfidl.local.records import Address
from sfidl.local.run import LocalRuntime, RunOptions
from sfidl.local.store import Store, StoredEgress
from sfidl.local.transport import InProcess
from sfidl.runtime.manifest import Manifest
from tests.local.apps import (
    MANIFEST,
    TIMERS,
    Count,
    Greet,
    SdkApp,
    Timer,
    demo_app,
    run_on,
    until,
)
from tests.local.test_engine import gated_app, greet, names_of


def test_a_second_runtime_on_the_same_database_is_refused(tmp_path):
    db = tmp_path / "local.sqlite"
    first = Store(db)
    with pytest.raises(
        LocalRuntimeError, match=rf"the database {db} is in use by another sfidl run"
    ):
        Store(db)
    first.close()
    Store(db).close()  # free again once the first one closed


def test_a_second_sfidl_run_process_on_the_same_database_stops_with_a_clear_error(tmp_path):
    async def scenario() -> None:
        runtime = LocalRuntime(
            demo_app(),
            RunOptions(db=tmp_path / "db.sqlite", port=None, egress_port=None, egress_stdout=False),
        )
        await runtime.start()
        try:
            process = await asyncio.create_subprocess_exec(
                *run_demo_command(tmp_path),
                cwd=Path(__file__).resolve().parents[2],
                stderr=asyncio.subprocess.PIPE,
            )
            _, stderr = await asyncio.wait_for(process.communicate(), 30)
            assert process.returncode == 1
            assert "is in use by another sfidl run" in stderr.decode()
            assert "Traceback" not in stderr.decode()
        finally:
            await runtime.close()

    asyncio.run(scenario())


def run_demo_command(folder: Path) -> list[str]:
    script = (
        "import sys; from pathlib import Path; from sfidl.local.errors import LocalRuntimeError;"
        " from sfidl.local.run import RunOptions, run; from tests.local.apps import demo_app\n"
        "try:\n"
        f"    run(demo_app(), RunOptions(db=Path({str(folder / 'db.sqlite')!r}), port=None, egress_port=None, stop_when_idle=True))\n"
        "except LocalRuntimeError as e:\n"
        "    print(e, file=sys.stderr); sys.exit(1)\n"
    )
    return [sys.executable, "-c", script]


def test_a_crash_between_the_response_and_the_commit_runs_the_batch_again_once(tmp_path):
    db = tmp_path / "local.sqlite"

    class Killed(BaseException):
        pass

    class DiesBeforeCommit(Store):
        def commit_batch(self, *args: object, **kwargs: object) -> list[StoredEgress]:
            raise Killed  # the process dies: the function's response is lost

    async def run_once(store: Store, *names: str) -> None:
        gate = asyncio.Event()
        gate.set()
        app = gated_app(gate)
        engine = Engine(app.manifest, InProcess(app), store, VirtualClock())
        try:
            engine.enqueue([greet("a", name) for name in names])
            await engine.run_until_quiet()
        finally:
            await engine.close()
            store.close()

    with pytest.raises(Killed):
        asyncio.run(run_once(DiesBeforeCommit(db), "one"))
    asyncio.run(run_once(Store(db), "two"))
    store = Store(db)
    assert names_of(store, "a") == "one,two,"
    assert store.counts().processed == 2
    store.close()


def test_egress_catch_up_writes_a_topic_whose_file_was_never_created(tmp_path):
    def row(seq: int, topic: str) -> StoredEgress:
        return StoredEgress(
            seq, "demo/counts", topic, "k", Count(id="k", total=seq).SerializeToString()
        )

    rows = [row(1, "other"), row(2, "counts")]

    class Rows(Store):
        def egress_after(self, seq: int) -> list[StoredEgress]:
            return [r for r in rows if r.seq > seq]

        def egress_topics(self) -> list[str]:
            return ["counts", "other"]

    out = tmp_path / "out"
    out.mkdir()
    # Killed after the "counts" file got seq 2 but before the "other" file was created for seq 1.
    (out / "counts.jsonl").write_text(json.dumps({"seq": 2}) + "\n")
    FileSink(out, MANIFEST).catch_up(Rows(":memory:"))
    other = [json.loads(line) for line in (out / "other.jsonl").read_text().splitlines()]
    assert [line["seq"] for line in other] == [1]
    assert (out / "counts.jsonl").read_text().count("\n") == 1


def test_a_delayed_message_due_while_the_runtime_was_down_fires_on_restart(tmp_path):
    db = tmp_path / "local.sqlite"

    clock, timers = VirtualClock(), Address.of(TIMERS, "t")
    assert run_on(db, demo_app(), timers, Timer(label="b", delay_ms=2000), clock) == {}
    assert run_on(db, demo_app(), timers, Timer(label="a", delay_ms=1000), clock) == {}
    clock.set(clock.now_ms() + 60_000)  # down for a minute: both are overdue
    assert run_on(db, demo_app(), timers, None, clock) == {"fired": "a;b;"}


def test_a_redeploy_with_a_new_state_keeps_the_old_values_and_registers_the_new_one(tmp_path):
    db = tmp_path / "local.sqlite"

    def app(*specs: ValueSpec) -> SdkApp:
        functions = StatefulFunctions()

        @functions.bind("raw/fn", specs=list(specs))
        def fn(ctx: object, message: object) -> None:
            storage = getattr(ctx, "storage")
            storage.x = (storage.x or 0) + 1
            if len(specs) > 1:
                storage.y = f"x was {storage.x - 1}"

        return SdkApp(functions, Manifest(namespace="raw", functions=("raw/fn",)))

    address = Address("raw", "fn", "r")
    assert run_on(db, app(ValueSpec("x", IntType)), address, Greet(name="x")) == {"x": 1}
    redeployed = app(ValueSpec("x", IntType), ValueSpec("y", StringType))
    assert run_on(db, redeployed, address, Greet(name="x")) == {"x": 2, "y": "x was 1"}
    # The first request after the restart carried no state; the handshake registered both.
    assert [len(r.invocation.state) for r in redeployed.requests] == [0, 2]


def test_a_stop_with_a_batch_in_flight_leaves_it_queued_for_the_next_run(tmp_path):
    db = tmp_path / "db.sqlite"

    async def scenario(gate: asyncio.Event, stop_in_flight: bool) -> tuple[int, int]:
        app = gated_app(gate)
        runtime = LocalRuntime(
            app, RunOptions(db=db, port=None, egress_port=None, egress_stdout=False)
        )
        await runtime.start()
        task = asyncio.create_task(runtime.run())
        if stop_in_flight:
            runtime.engine.enqueue([greet("a", "first")])
            # the handshake, then the invocation waiting at the gate
            await until(lambda: len(app.requests) >= 2, "the invocation at the gate")
        else:
            await until(lambda: runtime.engine.store.counts().processed >= 1, "one message")
        runtime.stop()  # what SIGINT and SIGTERM do
        await task
        counts = runtime.engine.store.counts()
        await runtime.close()
        return counts.queued, counts.processed

    assert asyncio.run(scenario(asyncio.Event(), stop_in_flight=True)) == (1, 0)
    opened = asyncio.Event()
    opened.set()
    assert asyncio.run(scenario(opened, stop_in_flight=False)) == (0, 1)
    store = Store(db)
    assert names_of(store, "a") == "first,"
    store.close()


def test_a_file_that_is_no_database_releases_its_lock(tmp_path):
    path = tmp_path / "not.sqlite"
    path.write_bytes(b"this is not an SQLite database" * 100)
    for _ in range(2):  # the second attempt would say "in use" if the first kept the lock
        with pytest.raises(StoreError, match=f"{path} is not a database sfidl run can use"):
            Store(path)
