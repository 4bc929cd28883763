"""Peak memory of the local runtime holding 100,000 queued messages and 1,000,000 state entries.

A database is filled first (in a process of its own): 1,000,000 state values (the demo
counter's ``total`` of 1,000,000 ids) and 100,000 queued messages to 10,000 of them (each
adds to the total). Then,
each in a fresh process, the peak resident set size (``ru_maxrss``) of

- an empty runtime: the engine started on an empty database, delivering one message;
- opening: the engine started on the full database (its per-address backlog read);
- running: that, then every queued message delivered (each batch reads its address's
  state and writes it back).

Run: ``.venv/bin/python benchmarks/local_memory.py``.
"""

from __future__ import annotations

import asyncio
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from statefun import LongType, RequestReplyHandler, StatefulFunctions, ValueSpec  # noqa: E402

from sfidl.local.clock import SystemClock  # noqa: E402
from sfidl.local.engine import Engine  # noqa: E402
from sfidl.local.ingress import message_value  # noqa: E402
from sfidl.local.records import Address  # noqa: E402
from sfidl.local.store import Incoming, Store  # noqa: E402
from sfidl.local.transport import InProcess  # noqa: E402
from sfidl.runtime.manifest import Manifest  # noqa: E402
from tests.local.apps import INCREMENT, Increment  # noqa: E402

COUNTER = "bench/counter"

STATES = 1_000_000
QUEUED = 100_000
TARGETS = 10_000


def fill(db: Path) -> None:
    """The database: STATES counter totals, QUEUED messages to TARGETS of the counters."""
    Store(db).close()  # our tables
    raw = sqlite3.connect(db)
    total = LongType.serializer().serialize(1)
    with raw:
        raw.executemany(
            "INSERT INTO state (fn, id, name, typename, value, expires_at) VALUES (?, ?, ?, ?, ?, NULL)",
            ((COUNTER, f"k{i}", "total", LongType.typename, total) for i in range(STATES)),
        )
    raw.close()
    store = Store(db)
    for start in range(0, QUEUED, 10_000):
        store.enqueue(
            [
                Incoming(
                    Address.of(COUNTER, f"k{i % TARGETS}"), None, message_value(Increment(by=1))
                )
                for i in range(start, start + 10_000)
            ]
        )
    store.close()


class Counters:
    """Counters adding up the increments sent to them (nothing kept per request, unlike the
    tests' recording apps)."""

    def __init__(self) -> None:
        functions = StatefulFunctions()

        @functions.bind(COUNTER, specs=[ValueSpec("total", LongType)])
        def counter(ctx: Any, message: Any) -> None:
            ctx.storage.total = (ctx.storage.total or 0) + message.as_type(INCREMENT).by

        self.manifest = Manifest(namespace="bench", functions=(COUNTER,))
        self._handler = RequestReplyHandler(functions)

    async def handle(self, request: bytes) -> bytes:
        answer: bytes = await self._handler.handle_async(request)
        return answer


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def phase(db: Path, what: str) -> None:
    app = Counters()
    store = Store(db)
    engine = Engine(app.manifest, InProcess(app), store, SystemClock())
    try:
        if what == "empty":
            engine.enqueue(
                [Incoming(Address.of(COUNTER, "k"), None, message_value(Increment(by=1)))]
            )
        if what in ("empty", "running"):
            start = time.perf_counter()
            await engine.run_until_quiet()
            assert store.counts().queued == 0
            print(
                f"{store.counts().processed} delivered in {time.perf_counter() - start:.1f} s; ",
                end="",
            )
    finally:
        await engine.close()
        store.close()
    print(f"peak RSS {peak_mib():.0f} MiB")


def in_a_process(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        empty, full = Path(folder) / "empty.sqlite", Path(folder) / "full.sqlite"
        start = time.perf_counter()
        in_a_process("fill", str(full))
        size = full.stat().st_size / 2**20
        print(
            f"{STATES:,} state values, {QUEUED:,} queued messages to {TARGETS:,} addresses:"
            f" a {size:.0f} MiB database, filled in {time.perf_counter() - start:.0f} s\n"
        )
        print(f"empty runtime:  {in_a_process('empty', str(empty))}")
        print(f"opening:        {in_a_process('opening', str(full))}")
        print(f"running:        {in_a_process('running', str(full))}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "fill":
        fill(Path(sys.argv[2]))
    elif len(sys.argv) == 3:
        asyncio.run(phase(Path(sys.argv[2]), sys.argv[1]))
    else:
        main()
