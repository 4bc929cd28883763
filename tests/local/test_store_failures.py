"""One database, one runtime; every failure of the database is a clear error, exit 1, and
nothing answered is lost.

A second runtime on the same file by any path is refused; a file that is no database of
``sfidl run`` (another program's, a foreign ``state`` table) is refused before anything is
acknowledged; a read-only file and a full disk stop the runtime with the file named and
what to do, and a restart with more space carries on where the last committed step left.

Full disks and read-only files are real: a small tmpfs (root with mount rights) or, for a
full disk, a file size limit (RLIMIT_FSIZE) on the runtime's process.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import re
import resource
import signal
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from statefun.types_pb2 import LongWrapper

from sfidl.local.clock import VirtualClock
from sfidl.local.engine import Engine
from sfidl.local.errors import LocalRuntimeError, StoreError
from sfidl.local.ingress import message_value
from sfidl.local.records import Address
from sfidl.local.run import LocalRuntime, RunOptions
from sfidl.local.store import LAYOUT, Incoming, Store
from sfidl.local.transport import InProcess
from tests.local.apps import COUNTER, Increment, demo_app, run_on

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 60

# Runs the demo app on a database until idle, reporting a LocalRuntimeError as `sfidl run` does.
RUN = """
import sys
from pathlib import Path
from sfidl.local.errors import LocalRuntimeError
from sfidl.local.run import RunOptions, run
from tests.local.apps import demo_app
options = RunOptions(
    db=Path(sys.argv[1]), port=None, egress_port=None, egress_stdout=False,
    ingress_files=tuple(Path(a) for a in sys.argv[2:]), stop_when_idle=True,
)
try:
    run(demo_app(), options)
except LocalRuntimeError as error:
    print(f"sfidl run: {error}", file=sys.stderr)
    sys.exit(1)
"""


def run_demo(
    db: Path, *ingress_files: Path, limit: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUN, str(db), *map(str, ingress_files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        preexec_fn=limit,
    )


def failed_clearly(done: subprocess.CompletedProcess[str]) -> str:
    """The one-line error a failed run ended with, checked to be no traceback."""
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return done.stderr.strip().splitlines()[-1]


# -- one database, one runtime ---------------------------------------------------------------


# Opens a store as `sfidl run` does first, reporting a StoreError as it does.
OPEN = """
import sys
from sfidl.local.errors import StoreError
from sfidl.local.store import Store
try:
    Store(sys.argv[1]).close()
except StoreError as error:
    print(f"sfidl run: {error}", file=sys.stderr)
    sys.exit(1)
"""


def test_a_second_runtime_through_a_hard_link_a_symlink_or_another_spelling_is_refused(
    tmp_path: Path,
) -> None:
    db = tmp_path / "data" / "local.sqlite"
    first = Store(db)
    (tmp_path / "elsewhere").mkdir()
    hard, soft = tmp_path / "elsewhere" / "hard.sqlite", tmp_path / "soft.sqlite"
    os.link(db, hard)
    soft.symlink_to(db)
    spelled = tmp_path / "elsewhere" / ".." / "data" / "." / "local.sqlite"
    try:
        for path in (hard, soft, spelled):
            opened = subprocess.run(
                [sys.executable, "-c", OPEN, str(path)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=DEADLINE_S,
            )
            assert failed_clearly(opened) == (
                f"sfidl run: the database {path} is in use by another sfidl run"
                f" (pid {os.getpid()}); stop that one or give another --db"
            )
            with pytest.raises(StoreError, match="is in use by another sfidl run"):
                Store(path)  # and in this process
    finally:
        first.close()
    Store(hard).close()  # free once the first one closed


def test_two_sfidl_run_processes_on_one_database_through_a_hard_link(tmp_path: Path) -> None:
    """The reported case: the second `sfidl run` exits 1 before it takes any message."""
    db, hard = tmp_path / "local.sqlite", tmp_path / "hard.sqlite"

    async def scenario() -> subprocess.CompletedProcess[str]:
        runtime = LocalRuntime(
            demo_app(), RunOptions(db=db, port=None, egress_port=None, egress_stdout=False)
        )
        await runtime.start()
        try:
            os.link(db, hard)
            folder = ROOT / "examples" / "greeter"
            command = [
                sys.executable, "-m", "sfidl", "run", str(folder / "greeter.sfidl"),
                "--app", "greeter_app", "-o", str(tmp_path / "gen"), "--db", str(hard),
                "--port", "0", "--stop-when-idle",
            ]  # fmt: skip
            env = {**os.environ, "PYTHONPATH": str(folder)}
            return await asyncio.to_thread(
                subprocess.run,
                command,
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=DEADLINE_S,
            )
        finally:
            await runtime.close()

    last = failed_clearly(asyncio.run(scenario()))
    assert last.startswith(f"sfidl run: the database {hard} is in use by another sfidl run (pid ")


# -- databases that are not ours ---------------------------------------------------------------


def foreign(path: Path, *statements: str) -> list[tuple[str, str]]:
    """Make ``path`` an SQLite database with ``statements``; returns its schema."""
    with sqlite3.connect(path) as db:
        for statement in statements:
            db.execute(statement)
    return schema(path)


def schema(path: Path) -> list[tuple[str, str]]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
    finally:
        db.close()


@pytest.mark.parametrize(
    ("statements", "why"),
    [
        (
            ["CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT)"],
            ": its table state has other columns (key, value);",
        ),
        (
            ["CREATE TABLE users (name TEXT)", "CREATE TABLE state (x)"],
            " (it has tables users):",
        ),
        (["PRAGMA application_id = 1234", "CREATE TABLE t (x)"], " (it has application id 0x4d2):"),
    ],
    ids=["foreign-state-table", "another-programs-tables", "another-application-id"],
)
def test_a_database_of_another_program_is_refused_and_left_as_it_was(
    tmp_path: Path, statements: list[str], why: str
) -> None:
    path = tmp_path / "theirs.sqlite"
    before = foreign(path, *statements)
    contents = path.read_bytes()
    with pytest.raises(
        StoreError, match=re.escape(f"{path} is not a database of sfidl run{why}")
    ) as error:
        Store(path)
    assert str(error.value).endswith("give another --db, or move the file away")
    # Byte for byte: not even switched to WAL (a journal mode is kept in the file).
    assert path.read_bytes() == contents
    assert schema(path) == before
    with pytest.raises(StoreError, match="is not a database of sfidl run"):
        Store(path)  # the lock was released: it says so again, not "in use"


def test_a_foreign_state_table_stops_sfidl_run_before_it_acknowledges_anything(
    tmp_path: Path,
) -> None:
    """It used to accept a POST and crash at delivery, on every restart."""
    path = tmp_path / "theirs.sqlite"
    foreign(path, "CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT)")
    last = failed_clearly(run_demo(path))
    assert last == (
        f"sfidl run: {path} is not a database of sfidl run: its table state has other columns"
        " (key, value); give another --db, or move the file away"
    )


def test_a_file_that_is_no_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("shopping list\n" * 500)
    assert failed_clearly(run_demo(path)) == (
        f"sfidl run: {path} is not a database sfidl run can use (file is not a database):"
        " give another --db, or move the file away to start afresh"
    )
    assert path.read_text() == "shopping list\n" * 500


# The layout of a database written before messages had a due time.
OLDER = """
CREATE TABLE inbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, fn TEXT NOT NULL, id TEXT NOT NULL,
    caller_fn TEXT, caller_id TEXT, argument BLOB NOT NULL);
CREATE INDEX inbox_by_address ON inbox (fn, id, seq);
CREATE TABLE state (fn TEXT NOT NULL, id TEXT NOT NULL, name TEXT NOT NULL,
    typename TEXT NOT NULL, value BLOB NOT NULL, expires_at INTEGER, PRIMARY KEY (fn, id, name));
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


def test_a_database_of_an_earlier_sfidl_is_upgraded_and_its_queue_delivered_first(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(OLDER)
        db.execute(
            "INSERT INTO inbox (fn, id, argument) VALUES (?, 'k', ?)",
            (COUNTER, message_value(Increment(by=5, note="queued before"))),
        )
    state = run_on(path, demo_app(), Address.of(COUNTER, "k"), Increment(by=1, note="new"))
    assert (state["total"], state["note"]) == (6, "new")  # the old message went first
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA application_id").fetchone() == (0x5346444C,)
        assert db.execute("PRAGMA user_version").fetchone() == (LAYOUT,)
        indexes = {
            name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
        (inbox,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'inbox'").fetchone()
    assert "inbox_by_address" not in indexes and "inbox_by_due" in indexes
    assert "AUTOINCREMENT" not in inbox


# -- read-only files and full disks ------------------------------------------------------------


def mount_tmpfs(folder: Path, size: str) -> bool:
    """Mount a tmpfs of ``size`` at ``folder``; False where this process may not mount."""
    folder.mkdir()
    if os.geteuid() != 0:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        timeout=DEADLINE_S,
    )
    return done.returncode == 0


def remount(folder: Path, options: str) -> None:
    subprocess.run(
        ["mount", "-o", f"remount,{options}", str(folder)], check=True, timeout=DEADLINE_S
    )


@contextmanager
def mounted(folder: Path, size: str) -> Iterator[bool]:
    mounted = mount_tmpfs(folder, size)
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=True, timeout=DEADLINE_S)


def test_a_read_only_database_is_a_clear_error_and_nothing_is_lost(tmp_path: Path) -> None:
    folder = tmp_path / "disk"
    with mounted(folder, "4m") as real_mount:
        if not real_mount and os.geteuid() == 0:
            pytest.skip("root without mount rights: no way to make a file read-only")
        db = folder / "local.sqlite"
        run_on(db, demo_app(), Address.of(COUNTER, "k"), Increment(by=2))
        if real_mount:
            remount(folder, "ro")
        else:
            db.chmod(0o444)
        last = failed_clearly(run_demo(db))
        assert last.startswith(
            f"sfidl run: the database {db} cannot be written ("
        ) or last.startswith(f"sfidl run: cannot open the database {db} ("), last
        assert "writable" in last
        if real_mount:
            remount(folder, "rw")
        else:
            db.chmod(0o644)
        state = run_on(db, demo_app(), Address.of(COUNTER, "k"), Increment(by=1))
        assert state["total"] == 3


def file_size_limit(size: int) -> Callable[[], None]:
    """For a child process: writes beyond ``size`` bytes fail (instead of killing it)."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return limit


def test_a_full_disk_stops_the_runtime_clearly_and_a_restart_with_more_space_carries_on(
    tmp_path: Path,
) -> None:
    lines = 600
    records = tmp_path / "in.jsonl"
    with records.open("w") as out:
        for i in range(lines):
            value = {"by": 1, "note": f"{i:04d}" + "x" * 3000}
            out.write(json.dumps({"ingress": "increments", "key": f"k{i % 7}", "value": value}))
            out.write("\n")
    folder = tmp_path / "disk"
    with mounted(folder, "1m") as real_mount:
        db = folder / "local.sqlite"
        limit = None if real_mount else file_size_limit(1024 * 1024)
        last = failed_clearly(run_demo(db, records, limit=limit))
        if real_mount:
            assert last.startswith(
                f"sfidl run: the disk holding the database {db} is full (database or disk is full):"
            ), last
            assert last.endswith("free some space and start sfidl run again")
        else:  # SQLite reports the size limit as an I/O error
            assert last.startswith(f"sfidl run: the database {db} failed ("), last
        if real_mount:
            remount(folder, "size=64m")
        done = run_demo(db, records)
        assert done.returncode == 0, done.stderr
        with sqlite3.connect(db) as connection:
            totals = dict(
                connection.execute(
                    "SELECT id, value FROM state WHERE fn = ? AND name = 'total'", (COUNTER,)
                )
            )
            [(queued,)] = connection.execute("SELECT COUNT(*) FROM inbox")
    # Every line counted once: none lost to the full disk, none twice after the restart.
    assert queued == 0
    assert sorted(totals) == [f"k{k}" for k in range(7)]
    assert sum(decode_long(v) for v in totals.values()) == lines


def decode_long(value: bytes) -> int:
    return int(LongWrapper.FromString(value).value)


def test_a_full_disk_answers_the_ingress_request_it_could_not_queue_with_a_503_and_stops(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "disk"
    with mounted(folder, "1m") as real_mount:
        if not real_mount:
            pytest.skip("needs a small filesystem: root with mount rights")
        db = folder / "local.sqlite"
        acknowledged: list[int] = []

        async def scenario() -> tuple[int, str]:
            options = RunOptions(db=db, port=0, egress_port=None, egress_stdout=False)
            runtime = LocalRuntime(demo_app(), options)
            await runtime.start()
            running = asyncio.create_task(runtime.run())
            try:
                for i in range(200):
                    note = f"{i:03d}" + "y" * 20_000
                    status, text = await asyncio.to_thread(post, runtime.port, note)
                    if status != 200:
                        break
                    acknowledged.append(i)
                else:
                    raise AssertionError("4 MB went onto a 1 MB disk")
                with pytest.raises(StoreError, match="is full"):
                    await asyncio.wait_for(running, DEADLINE_S)
                return status, text
            finally:
                running.cancel()
                await runtime.close()

        status, text = asyncio.run(scenario())
        assert status == 503
        assert text.startswith(f"the disk holding the database {db} is full")
        remount(folder, "size=64m")
        # Every acknowledged request was in the database (queued or already counted), the
        # refused one was not: the counter counts each acknowledged one once.
        state = run_on(db, demo_app(), Address.of(COUNTER, "k"))
        assert acknowledged and state["total"] == len(acknowledged)


def post(port: int | None, note: str) -> tuple[int, str]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/demo/counter/k",
        data=Increment(by=1, note=note).SerializeToString(),
        headers={"Content-Type": "application/vnd.type.googleapis.com/sfidl.demo.Increment"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=DEADLINE_S) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_a_batch_whose_commit_finds_the_database_full_stays_queued_and_runs_once_later(
    tmp_path: Path,
) -> None:
    db, counter = tmp_path / "local.sqlite", Address.of(COUNTER, "k")
    assert run_on(db, demo_app(), counter, Increment(by=1))["total"] == 1  # states registered

    async def full_at_the_commit() -> None:
        app, clock, store = demo_app(), VirtualClock(), Store(db)
        engine = Engine(app.manifest, InProcess(app, clock), store, clock)
        try:
            engine.enqueue(
                [Incoming(counter, None, message_value(Increment(by=1, note="n" * 100_000)))]
            )
            # SQLite's own page limit: its "database or disk is full" at the batch's write.
            (pages,) = store._db.execute("PRAGMA page_count").fetchone()
            store._db.execute(f"PRAGMA max_page_count = {pages}")
            await engine.run_until_quiet()
        finally:
            await engine.close()
            store.close()

    with pytest.raises(
        StoreError, match=f"the disk holding the database {re.escape(str(db))} is full"
    ):
        asyncio.run(full_at_the_commit())
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT COUNT(*) FROM inbox").fetchone() == (1,)
    state = run_on(db, demo_app(), counter)
    assert (state["total"], len(str(state["note"]))) == (2, 100_000)


def test_an_egress_file_on_a_full_disk_is_a_clear_error_and_the_records_stay_in_the_database(
    tmp_path: Path,
) -> None:
    db, counter = tmp_path / "local.sqlite", Address.of(COUNTER, "k")

    def full_disk(rows: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "counts.jsonl"))

    async def scenario() -> None:
        app, clock, store = demo_app(), VirtualClock(), Store(db)
        engine = Engine(app.manifest, InProcess(app, clock), store, clock)
        engine.egress_observers.append(full_disk)
        try:
            engine.enqueue([Incoming(counter, None, message_value(Increment(by=1)))])
            await engine.run_until_quiet()
        finally:
            await engine.close()
            store.close()

    with pytest.raises(LocalRuntimeError) as error:
        asyncio.run(scenario())
    assert str(error.value) == (
        f"cannot write egress records to {tmp_path / 'counts.jsonl'}: No space left on device;"
        " they are in the database (an --egress-dir file catches up when sfidl run starts again)"
    )
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT COUNT(*) FROM egress").fetchone() == (1,)
