"""``sfidl run`` end to end: the runtime as a process, driven over HTTP on 127.0.0.1.

For the greeter and for the shop, 10,000 messages over 1,000 ids and over 10 ids are
POSTed to the ingress (one message a POST, as to the playground image) with 64 requests in
flight, while the egress is drained until every record the messages make has been read:
by one reader popping up to 1,000 records a GET and waiting up to 1 s when there is none
(``?max=1000&wait=1``, what a consumer of ``sfidl run`` would use), or with
``--one-record-pops`` by 4 readers popping one record a GET as the playground image
answers it, pausing briefly on an empty topic. Reported: messages per second from the
first POST to the last record read, and the CPU seconds per 1,000 messages of the server
process (``utime + stime`` from ``/proc/<pid>/stat``) and of the client (this process,
on the same machine).

- greeter: each message is a ``Greet`` to ``Greeter/<id>``, each writes one greeting.
- shop: per user, four ``AddToCart`` (each an rpc to an inventory: three invocations)
  then a ``Checkout``, which writes a receipt; the 50 inventories are restocked before the
  clock starts.

Run: ``.venv/bin/python benchmarks/end_to_end.py`` (``--messages N`` for a quicker run;
``--tree OLD --tree .`` for before and after, interleaved, ``--rounds N`` for medians;
``--profile FILE`` runs the server under cProfile over the timed part of one run, writes the
stats to FILE and prints the server's time by module: the profiler slows the server, so
that run's figures are not comparable with others).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import pstats
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
IN_FLIGHT = 64
DRAINERS = 4  # readers popping one record a GET
READERS = 1  # readers popping up to MAX_RECORDS a GET (one is what a consumer would run)
EMPTY_PAUSE_S = 0.005
MAX_RECORDS = 1000
WAIT_S = 1.0
TICKS = os.sysconf("SC_CLK_TCK")
ITEMS = 50


@dataclass(frozen=True)
class Post:
    path: str
    typename: str
    body: bytes


@dataclass(frozen=True)
class Workload:
    name: str
    sfidl: Path
    app: str
    topic: str
    setup: Callable[[ModuleType], list[Post]]
    posts: Callable[[ModuleType, int, int], list[Post]]
    records: Callable[[list[Post]], int]  # how many egress records the posts make


def greeter_posts(pb: ModuleType, messages: int, ids: int) -> list[Post]:
    typename = "type.googleapis.com/com.example.greeter.Greet"
    return [
        Post(
            f"/com.example.greeter/greeter/u{i % ids}",
            typename,
            pb.Greet(name=f"u{i % ids}").SerializeToString(),
        )
        for i in range(messages)
    ]


def shop_setup(pb: ModuleType) -> list[Post]:
    typename = "type.googleapis.com/com.example.shop.Restock"
    body = pb.Restock(quantity=10_000_000).SerializeToString()
    return [Post(f"/com.example.shop/inventory/item{n}", typename, body) for n in range(ITEMS)]


def shop_posts(pb: ModuleType, messages: int, ids: int) -> list[Post]:
    posts = []
    for i in range(messages):
        user, round_ = f"u{i % ids}", i // ids
        path = f"/com.example.shop/user_cart/{user}"
        if round_ % 5 == 4:
            body = pb.Checkout(user_id=user).SerializeToString()
            posts.append(Post(path, "type.googleapis.com/com.example.shop.Checkout", body))
        else:
            item = f"item{(i * 7 + round_) % ITEMS}"
            body = pb.AddToCart(user_id=user, item_id=item, quantity=1).SerializeToString()
            posts.append(Post(path, "type.googleapis.com/com.example.shop.AddToCart", body))
    return posts


WORKLOADS = (
    Workload(
        "greeter",
        Path("examples/greeter/greeter.sfidl"),
        "greeter_app",
        "greetings",
        lambda pb: [],
        greeter_posts,
        len,
    ),
    Workload(
        "shop add+checkout",
        Path("examples/shop/shop.sfidl"),
        "shop_app",
        "receipts",
        shop_setup,
        shop_posts,
        lambda posts: sum(p.typename.endswith("Checkout") for p in posts),
    ),
)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15)


# Runs ``python -m sfidl`` with the arguments after ``-c``'s: a cProfile profiler in the
# server's main thread (its event loop), on from SIGUSR1, off and written to the file named
# by the first argument on SIGUSR2. Its clock is cProfile's, wall time (a CPU clock costs a
# system call per event, which would swamp the figures): the time the server waits for a CPU
# (it shares them with the client) is charged to whatever was running then.
PROFILED = """
import cProfile, runpy, signal, sys
path = sys.argv.pop(1)
profiler = cProfile.Profile()
def stop(*_):
    profiler.disable()
    profiler.dump_stats(path)
signal.signal(signal.SIGUSR1, lambda *_: profiler.enable())
signal.signal(signal.SIGUSR2, stop)
sys.argv[0] = "sfidl"
runpy.run_module("sfidl", run_name="__main__", alter_sys=True)
"""


class Server:
    """``sfidl run`` in a process of its own on free ports, its outputs in a scratch folder;
    with ``profile``, under a profiler switched by :meth:`profiling` (see :data:`PROFILED`)."""

    def __init__(
        self, workload: Workload, folder: Path, tree: Path, profile: Path | None = None
    ) -> None:
        self.out = folder / "gen"
        python = [sys.executable, "-m", "sfidl"]
        if profile is not None:
            python = [sys.executable, "-c", PROFILED, str(profile.resolve())]
        command = [
            *python,
            "run",
            str(workload.sfidl),
            "--app",
            workload.app,
            "-o",
            str(self.out),
            "--db",
            str(folder / "db.sqlite"),
            "--port",
            "0",
            "--egress-port",
            "0",
            "--no-stdout",
        ]
        self.process = subprocess.Popen(
            command, cwd=tree, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
        )
        self.ingress, self.egress = self._ports()
        # The log goes on (a line per call timeout, say): read it, or the pipe fills and
        # the server blocks writing to it.
        self.log: list[str] = []
        threading.Thread(target=self._read_log, daemon=True).start()

    def _read_log(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log.append(line)

    def _ports(self, deadline_s: float = 120.0) -> tuple[str, str]:
        found: dict[str, str] = {}
        stop = time.monotonic() + deadline_s
        assert self.process.stderr is not None
        lines: list[str] = []
        while len(found) < 2 and time.monotonic() < stop:
            line = self.process.stderr.readline()
            if not line:
                raise SystemExit(f"sfidl run exited {self.process.wait()}:\n{''.join(lines)}")
            lines.append(line)
            match = re.search(r"(ingress|egress) listening on (http://[\d.]+:\d+)", line)
            if match:
                found[match.group(1)] = match.group(2)
        if len(found) < 2:
            raise SystemExit(f"sfidl run was not ready within {deadline_s:g} s")
        return found["ingress"], found["egress"]

    def profiling(self, on: bool) -> None:
        """Switch the profiler (a server started with ``profile``) on or off, off writing the stats."""
        self.process.send_signal(signal.SIGUSR1 if on else signal.SIGUSR2)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


async def post_all(session: aiohttp.ClientSession, url: str, posts: list[Post]) -> None:
    queue: Iterator[Post] = iter(posts)

    async def worker() -> None:
        for post in queue:
            headers = {"Content-Type": f"application/vnd.{post.typename}"}
            async with session.post(url + post.path, data=post.body, headers=headers) as answer:
                await answer.read()
                if answer.status != 200:
                    raise SystemExit(f"POST {post.path}: {answer.status} {await answer.text()}")

    await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))


async def drain(session: aiohttp.ClientSession, url: str, expected: int, batched: bool) -> None:
    """Pop records until ``expected`` were read: with ``batched``, up to :data:`MAX_RECORDS` a
    read, waiting up to :data:`WAIT_S` for one (``?max=N&wait=S``, JSON lines); else one a
    read, as the playground image answers them (a server without ``max`` answers one either way)."""
    read = 0
    query = {"max": str(MAX_RECORDS), "wait": str(WAIT_S)} if batched else {}

    async def reader() -> None:
        nonlocal read
        while read < expected:
            async with session.get(url, params=query) as answer:
                body = await answer.read()
                if answer.headers.get("Status") == "200":
                    read += len(body.splitlines())
                else:
                    await asyncio.sleep(EMPTY_PAUSE_S)

    await asyncio.gather(*(reader() for _ in range(READERS if batched else DRAINERS)))


@dataclass(frozen=True)
class Figures:
    rate: float  # messages per second, first POST to last record read
    server_cpu: float  # the server's CPU seconds per 1,000 messages
    client_cpu: float  # this process's (the client's) CPU seconds per 1,000 messages


async def drive(
    server: Server,
    workload: Workload,
    pb: ModuleType,
    posts: list[Post],
    batched: bool,
    profile: bool = False,
) -> tuple[float, float, float]:
    """Seconds from the first POST to the last egress record read, and the server's and the
    client's CPU seconds meanwhile (with ``profile``, the server profiled meanwhile)."""
    limits = aiohttp.TCPConnector(limit=IN_FLIGHT + DRAINERS)
    async with aiohttp.ClientSession(connector=limits) as session:
        await post_all(session, server.ingress, workload.setup(pb))
        if profile:
            server.profiling(True)
        cpu = cpu_seconds(server.process.pid)
        client = time.process_time()
        start = time.perf_counter()
        await asyncio.gather(
            post_all(session, server.ingress, posts),
            drain(session, f"{server.egress}/{workload.topic}", workload.records(posts), batched),
        )
        seconds = time.perf_counter() - start
        if profile:
            server.profiling(False)
        return (
            seconds,
            cpu_seconds(server.process.pid) - cpu,
            time.process_time() - client,
        )


def measure(
    workload: Workload,
    messages: int,
    ids: int,
    tree: Path,
    batched: bool,
    profile: Path | None = None,
) -> Figures:
    """One run on a fresh database (with ``profile``, the server's profile written there)."""
    with tempfile.TemporaryDirectory() as scratch:
        server = Server(workload, Path(scratch), tree, profile)
        try:
            sys.path.insert(0, str(server.out))
            pb = importlib.import_module(workload.app.removesuffix("_app") + "_pb2")
            posts = workload.posts(pb, messages, ids)
            seconds, cpu, client = asyncio.run(
                drive(server, workload, pb, posts, batched, profile is not None)
            )
            if profile is not None:
                _wait_for(profile)
        finally:
            server.stop()
            sys.path.remove(str(server.out))
    return Figures(messages / seconds, cpu / messages * 1000, client / messages * 1000)


def _wait_for(path: Path, deadline_s: float = 60.0) -> None:
    """Wait until the profiled server has written its stats to ``path``."""
    stop = time.monotonic() + deadline_s
    size = -1
    while time.monotonic() < stop:
        now = path.stat().st_size if path.exists() else -1
        if now > 0 and now == size:  # written, and no longer growing
            return
        size = now
        time.sleep(0.2)
    raise SystemExit(f"the server wrote no profile to {path} within {deadline_s:g} s")


def by_module(path: Path, top: int = 30) -> str:
    """The profile's own time (tottime) summed per module: sfidl's modules by file, the
    libraries by package, built-in functions by name."""
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    own: Counter[str] = Counter()
    for (filename, _, function), (_, _, tottime, _, _) in stats.items():
        own[_module(filename, function)] += tottime
    total = sum(own.values()) or 1.0
    lines = [f"{'ms':>8} {'%':>5}  module (own time, profiled run)"]
    for module, seconds in own.most_common(top):
        lines.append(f"{seconds * 1000:8.1f} {seconds / total * 100:5.1f}  {module}")
    return "\n".join(lines)


def _module(filename: str, function: str) -> str:
    if filename == "~":  # a built-in: its name says what (e.g. sqlite3's execute, select's poll)
        return f"built-in {re.sub(r' at 0x[0-9a-f]+', '', function)}"
    parts = Path(filename).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1]
    if "sfidl" in parts:
        return "/".join(parts[parts.index("sfidl") :])
    if "examples" in parts or "gen" in parts:
        return "the application"
    return f"python {Path(filename).stem}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument(
        "--tree",
        type=Path,
        action="append",
        help="run `python -m sfidl run` in this checkout (an older commit, for before/after);"
        " repeated: each row on each tree, interleaved (default: this checkout)",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="runs of each row per tree; the median is shown"
    )
    parser.add_argument(
        "--one-record-pops",
        action="store_true",
        help="read the egress one record per GET, as the playground image answers it",
    )
    parser.add_argument("--app", choices=[w.name.split()[0] for w in WORKLOADS], action="append")
    parser.add_argument("--ids", type=int, choices=(1000, 10), action="append")
    parser.add_argument(
        "--profile",
        type=Path,
        help="profile the server (cProfile) over the timed part of one run of the first row"
        " on the first tree, write the stats to this file and print its time by module",
    )
    args = parser.parse_args()
    trees: list[Path] = args.tree or [ROOT]
    batched = not args.one_record_pops
    reads = (
        f"by {READERS} reader, up to {MAX_RECORDS} records a GET, waiting up to {WAIT_S:g} s"
        if batched
        else f"by {DRAINERS} readers, one record a GET"
    )
    print(
        f"{args.messages} messages per row, {IN_FLIGHT} POSTs in flight, egress drained {reads};"
        f" {os.cpu_count()} CPUs; median of {args.rounds} round(s)\n"
    )
    print(
        f"{'tree':24} {'app':18} {'ids':>5} {'msg/s':>7} {'server CPU s/1k':>16}"
        f" {'client CPU s/1k':>16}"
    )
    rows = [
        (workload, ids)
        for workload in WORKLOADS
        if not args.app or workload.name.split()[0] in args.app
        for ids in args.ids or (1000, 10)
    ]
    if args.profile is not None:
        workload, ids = rows[0]
        args.profile.unlink(missing_ok=True)
        profiled = measure(workload, args.messages, ids, trees[0], batched, args.profile)
        print(
            f"{_short(trees[0]):24} {workload.name:18} {ids:5d} {profiled.rate:7.0f}"
            f" {profiled.server_cpu:16.3f} {profiled.client_cpu:16.3f}  (profiled)\n"
        )
        print(by_module(args.profile))
        return
    for workload, ids in rows:
        runs: dict[Path, list[Figures]] = {tree: [] for tree in trees}
        for _ in range(args.rounds):
            for tree in trees:
                runs[tree].append(measure(workload, args.messages, ids, tree, batched))
        for tree, figures in runs.items():
            print(
                f"{_short(tree):24} {workload.name:18} {ids:5d}"
                f" {statistics.median(f.rate for f in figures):7.0f}"
                f" {statistics.median(f.server_cpu for f in figures):16.3f}"
                f" {statistics.median(f.client_cpu for f in figures):16.3f}",
                flush=True,
            )


def _short(tree: Path) -> str:
    return "this checkout" if tree == ROOT else str(tree)[-24:]


if __name__ == "__main__":
    main()
