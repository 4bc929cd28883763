"""How long `sfidl run` takes from its start to answering HTTP, on the examples.

For each example: a first start into an empty output folder (it compiles), then starts with
nothing changed (the outputs are reused), each timed from launching the process to the
first HTTP answer from both its ingress and its egress port (ephemeral ports, read from its
log). For scale, the same run times a bare interpreter (``python -c pass``) and one that
imports what serving needs (the generated stubs' runtime: the StateFun SDK, aiohttp,
protobuf). Medians of ``--repeat``, interleaved.

    python benchmarks/run_start.py [--repeat 5] [--examples greeter,shop]
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEADLINE_S = 60.0


def answers(url: str) -> bool:
    """Whether ``url`` gives any HTTP answer (a 404 included)."""
    try:
        with urllib.request.urlopen(url, timeout=DEADLINE_S):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def start_to_ready(example: str, work: Path) -> tuple[float, bool]:
    """Seconds from launching `sfidl run` to both ports answering; and whether it compiled."""
    folder = ROOT / "examples" / example
    command = [
        sys.executable, "-m", "sfidl", "run", str(folder / f"{example}.sfidl"),
        "--app", f"{example}_app", "-o", str(work / "gen"), "--port", "0",
        "--egress-port", "0", "--db", str(work / "local.sqlite"), "--no-stdout",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(folder), "SFIDL_CACHE_DIR": str(work / "cache")}
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    lines: queue.Queue[str] = queue.Queue()
    assert process.stderr is not None
    stderr = process.stderr

    def drain() -> None:  # no full pipe blocks the process
        for line in stderr:
            lines.put(line)

    threading.Thread(target=drain, daemon=True).start()
    try:
        seen: list[str] = []
        ports: dict[str, str] = {}
        while len(ports) < 2:
            line = lines.get(timeout=DEADLINE_S)
            seen.append(line)
            found = re.search(r"(ingress|egress) listening on (http://127\.0\.0\.1:\d+)", line)
            if found:
                ports[found.group(1)] = found.group(2)
        deadline = time.monotonic() + DEADLINE_S
        while not (answers(ports["egress"] + "/none") and answers(ports["ingress"] + "/")):
            assert time.monotonic() < deadline, "".join(seen)
        ready = time.perf_counter() - start
        compiled = not any("up to date" in line for line in seen)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=DEADLINE_S)
    return ready, compiled


def interpreter(code: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--examples", default="greeter,shop")
    args = parser.parse_args()
    rows: list[tuple[str, float, float, bool]] = []
    bare: list[float] = []
    serving: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for example in args.examples.split(","):
            firsts: list[float] = []
            agains: list[float] = []
            recompiled = False
            for i in range(args.repeat):
                work = Path(tmp, f"{example}{i}")
                work.mkdir()
                first, _ = start_to_ready(example, work)  # an empty output folder: compiles
                again, compiled = start_to_ready(example, work)  # nothing changed
                firsts.append(first)
                agains.append(again)
                recompiled = recompiled or compiled
                bare.append(interpreter("pass"))
                serving.append(interpreter("import statefun, aiohttp.web, google.protobuf"))
            rows.append((example, statistics.median(firsts), statistics.median(agains), recompiled))
    print(f"`sfidl run` start to ready (both ports answer), median of {args.repeat}:\n")
    print("| example | first start (compiles) | start with nothing changed |")
    print("|---|---:|---:|")
    for example, first, again, recompiled in rows:
        note = " (recompiled!)" if recompiled else ""
        print(f"| {example} | {first:.2f} s | {again:.2f} s{note} |")
    print(
        f"\nFor scale: `python -c pass` {statistics.median(bare):.2f} s; importing the StateFun "
        f"SDK, aiohttp and protobuf {statistics.median(serving):.2f} s."
    )


if __name__ == "__main__":
    main()
