"""Group commit: the batches of one event-loop turn share a transaction, each in a savepoint.

A process killed between two batches of a group (after some were applied inside its
transaction, before the commit) leaves every input of the group queued, and a restart
processes each exactly once; a batch whose writes fail rolls back alone, the rest of its
group commits.
"""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sfidl.local import codec
from sfidl.local.clock import VirtualClock
from sfidl.local.engine import Engine
from sfidl.local.errors import StoreError
from sfidl.local.ingress import message_value
from sfidl.local.records import Address
from sfidl.local.store import Incoming, Store, StoredEgress
from sfidl.local.transport import InProcess
from tests.local.apps import COUNTER, Increment, demo_app
from tests.local.test_crash import ROOT, finish, ingress_lines, outcome, start

# The demo app on the local runtime, as tests.local.run_demo runs it, with a store that kills
# the process (SIGKILL) in the middle of a group's transaction: at the NTH batch of the first
# group holding that many, after SKIP such groups; the inputs of the group's batches so far
# go to REPORT first.
KILLED_IN_A_GROUP = """
import json, os, signal, sys
from contextlib import contextmanager
from pathlib import Path
import sfidl.local.run
from sfidl.local.run import RunOptions, run
from sfidl.local.store import Store
from tests.local.apps import demo_app

db, ingress_file, egress_dir, report = map(Path, sys.argv[1:5])
nth, skip = int(sys.argv[5]), int(sys.argv[6])

class KilledInAGroup(Store):
    @contextmanager
    def group(self):
        self.inputs, self.batches = [], 0
        with super().group():
            yield

    def commit_batch(self, address, consumed, *args, **kwargs):
        global skip
        self.inputs.extend(q.seq for q in consumed)
        self.batches += 1
        if self.batches == nth:
            if skip == 0:
                report.write_text(json.dumps(self.inputs))
                os.kill(os.getpid(), signal.SIGKILL)
            skip -= 1
        return super().commit_batch(address, consumed, *args, **kwargs)

sfidl.local.run.Store = KilledInAGroup
run(demo_app(), RunOptions(
    db=db, port=None, egress_port=None, ingress_files=(ingress_file,), egress_dir=egress_dir,
    egress_stdout=False, stop_when_idle=True,
))
"""


def test_a_kill_between_the_batches_of_a_group_leaves_all_its_inputs_queued_and_each_runs_once(
    tmp_path: Path,
) -> None:
    lines = ingress_lines()[:600]  # enough for several groups of many batches
    reference, crashed = tmp_path / "reference", tmp_path / "crashed"
    for folder in (reference, crashed):
        folder.mkdir()
        (folder / "in.jsonl").write_text("".join(lines))
    finish(start(reference))
    expected = outcome(reference)

    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    nth, skip = rng.randrange(2, 6), rng.randrange(3)
    report = crashed / "group.json"
    killed = subprocess.run(
        [
            sys.executable,
            "-c",
            KILLED_IN_A_GROUP,
            str(crashed / "db.sqlite"),
            str(crashed / "in.jsonl"),
            str(crashed / "out"),
            str(report),
            str(nth),
            str(skip),
        ],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    assert killed.returncode == -9, f"seed {seed}: {killed.stderr.decode()}"
    group = json.loads(report.read_text())
    db = sqlite3.connect(crashed / "db.sqlite")
    queued = {seq for (seq,) in db.execute("SELECT seq FROM inbox")}
    db.close()
    # Batches were applied inside the transaction before the kill; none of it was committed.
    assert len(group) >= nth and set(group) <= queued, f"seed {seed}"

    finish(start(crashed))
    assert outcome(crashed) == expected, f"seed {seed}"


def counters_app_run(store: Store, messages: list[Incoming]) -> None:
    """The demo app on ``store`` until quiet, ``messages`` queued first; closes the store."""
    app = demo_app()
    engine = Engine(app.manifest, InProcess(app), store, VirtualClock())

    async def run() -> None:
        try:
            engine.enqueue(messages)
            await engine.run_until_quiet()
        finally:
            await engine.close()
            store.close()

    asyncio.run(run())


def increments(keys: int) -> list[Incoming]:
    return [
        Incoming(Address.of(COUNTER, f"k{i}"), None, message_value(Increment(by=i + 1)))
        for i in range(keys)
    ]


def test_a_batch_whose_writes_fail_rolls_back_alone_and_the_rest_of_its_group_commits(
    tmp_path: Path,
) -> None:
    db = tmp_path / "db.sqlite"
    Store(db).close()
    with sqlite3.connect(db) as raw:  # a real failure of SQLite's, inside k3's savepoint
        raw.execute(
            "CREATE TRIGGER k3_fails BEFORE INSERT ON state WHEN NEW.id = 'k3'"
            " BEGIN SELECT RAISE(ABORT, 'k3 cannot be written'); END"
        )

    class Grouped(Store):
        groups: list[list[str]] = []

        def group(self) -> Any:
            self.groups.append([])
            return super().group()

        def commit_batch(self, address: Address, *args: Any, **kwargs: Any) -> list[StoredEgress]:
            self.groups[-1].append(address.id)
            return super().commit_batch(address, *args, **kwargs)

    with pytest.raises(StoreError, match="k3 cannot be written"):
        counters_app_run(Grouped(db), increments(8))
    (group,) = [ids for ids in Grouped.groups if "k3" in ids]
    assert len(group) > 1  # k3 shared its group with other counters

    store = Store(db)
    totals = {id: store.state(Address.of(COUNTER, id), 0).get("total") for id in group}
    assert totals.pop("k3") is None  # rolled back: its message is still queued
    assert all(total is not None for total in totals.values())  # the rest of the group committed
    store.close()
    with sqlite3.connect(db) as raw:
        raw.execute("DROP TRIGGER k3_fails")

    counters_app_run(Store(db), [])  # a restart processes k3's message, once
    store = Store(db)
    for i in range(8):
        assert codec.decode(*store.state(Address.of(COUNTER, f"k{i}"), 0)["total"]) == i + 1
    assert store.counts().queued == 0
    assert sorted(row.key for row in store.egress_of("counts")) == [f"k{i}" for i in range(8)]
    store.close()
