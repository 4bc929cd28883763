"""``sfidl run`` end to end: the runtime as a process, driven over HTTP on 127.0.0.1.

For the greeter and for the shop, 10,000 messages over 1,000 ids and over 10 ids are
POSTed to the ingress with 64 requests in flight, while the egress is drained (a few
readers popping records, pausing briefly on an empty topic) until every record the
messages make has been read. Reported: messages per second from the first POST to the last
record read, and the server process's CPU seconds per 1,000 messages (``utime + stime``
from ``/proc/<pid>/stat``; the client runs in this process, on the same machine).

- greeter: each message is a ``Greet`` to ``Greeter/<id>``, each writes one greeting.
- shop: per user, four ``AddToCart`` (each an rpc to an inventory: three invocations)
  then a ``Checkout``, which writes a receipt; the 50 inventories are restocked before the
  clock starts.

Run: ``.venv/bin/python benchmarks/end_to_end.py`` (``--messages N`` for a quicker run).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
IN_FLIGHT = 64
DRAINERS = 4
EMPTY_PAUSE_S = 0.005
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


class Server:
    """``sfidl run`` in a process of its own on free ports, its outputs in a scratch folder."""

    def __init__(self, workload: Workload, folder: Path, tree: Path) -> None:
        self.out = folder / "gen"
        command = [
            sys.executable,
            "-m",
            "sfidl",
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


async def drain(session: aiohttp.ClientSession, url: str, expected: int) -> None:
    read = 0

    async def reader() -> None:
        nonlocal read
        while read < expected:
            async with session.get(url) as answer:
                await answer.read()
                if answer.headers.get("Status") == "200":
                    read += 1
                else:
                    await asyncio.sleep(EMPTY_PAUSE_S)

    await asyncio.gather(*(reader() for _ in range(DRAINERS)))


async def drive(
    server: Server, workload: Workload, pb: ModuleType, posts: list[Post]
) -> tuple[float, float]:
    """Seconds from the first POST to the last egress record read, and the server's CPU
    seconds meanwhile."""
    limits = aiohttp.TCPConnector(limit=IN_FLIGHT + DRAINERS)
    async with aiohttp.ClientSession(connector=limits) as session:
        await post_all(session, server.ingress, workload.setup(pb))
        cpu = cpu_seconds(server.process.pid)
        start = time.perf_counter()
        await asyncio.gather(
            post_all(session, server.ingress, posts),
            drain(session, f"{server.egress}/{workload.topic}", workload.records(posts)),
        )
        seconds = time.perf_counter() - start
        return seconds, cpu_seconds(server.process.pid) - cpu


def measure(workload: Workload, messages: int, ids: int, tree: Path) -> tuple[float, float]:
    """(messages per second, server CPU seconds per 1,000 messages) on a fresh database."""
    with tempfile.TemporaryDirectory() as scratch:
        server = Server(workload, Path(scratch), tree)
        try:
            sys.path.insert(0, str(server.out))
            pb = importlib.import_module(workload.app.removesuffix("_app") + "_pb2")
            posts = workload.posts(pb, messages, ids)
            seconds, cpu = asyncio.run(drive(server, workload, pb, posts))
        finally:
            server.stop()
            sys.path.remove(str(server.out))
    return messages / seconds, cpu / messages * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument(
        "--tree",
        type=Path,
        default=ROOT,
        help="run `python -m sfidl run` in this checkout (an older commit, for before/after)",
    )
    args = parser.parse_args()
    print(
        f"{args.messages} messages per row, {IN_FLIGHT} POSTs in flight, egress drained"
        f" by {DRAINERS} readers meanwhile; {os.cpu_count()} CPUs\n"
    )
    print(f"{'app':18} {'ids':>5} {'msg/s':>8} {'server CPU s / 1,000 msg':>25}")
    for workload in WORKLOADS:
        for ids in (1000, 10):
            rate, cpu = measure(workload, args.messages, ids, args.tree)
            print(f"{workload.name:18} {ids:5d} {rate:8.0f} {cpu:25.3f}")


if __name__ == "__main__":
    main()
