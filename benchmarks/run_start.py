"""How long `sfidl run` takes from its start to answering HTTP, on the examples.

For each example: a first start into an empty output folder (it compiles), then starts with
nothing changed (the outputs are reused), each timed from launching the process to the
first HTTP answer from both its ingress and its egress port (ephemeral ports, read from its
log), with the CPU seconds the process had used by then (Linux). For scale, the same run
times a bare interpreter and one that imports what serving needs (the generated stubs'
runtime: the StateFun SDK, aiohttp, protobuf), each to the moment it says so on its
standard output (not to its exit: tearing down hundreds of modules takes a tenth of a
second or more, which a server does not pay before it answers). Medians of ``--repeat``,
interleaved.

The processes keep their compiled bytecode in a folder of the run's own
(``PYTHONPYCACHEPREFIX``), as Python does by default beside the sources: a first start
writes it, later starts read it, for sfidl, the generated modules and the application as
for the installed packages. ``--no-bytecode`` sets ``PYTHONDONTWRITEBYTECODE=1`` instead, as
some sandboxes do: then every module without bytecode from its installation (sfidl in a
source checkout, the generated modules, the application) is compiled from source on every
start.

    python benchmarks/run_start.py [--repeat 5] [--examples greeter,shop] [--no-bytecode]
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
SERVING = "import statefun, aiohttp.web, google.protobuf"


def answers(url: str) -> bool:
    """Whether ``url`` gives any HTTP answer (a 404 included)."""
    try:
        with urllib.request.urlopen(url, timeout=DEADLINE_S):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def cpu_seconds(pid: int) -> float:
    """The CPU time (user and system, all threads) process ``pid`` has used so far; NaN where
    /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_to_ready(example: str, work: Path, env: dict[str, str]) -> tuple[float, float, bool]:
    """Seconds from launching `sfidl run` to both ports answering, the CPU seconds it used by
    then, and whether it compiled."""
    folder = ROOT / "examples" / example
    command = [
        sys.executable, "-m", "sfidl", "run", str(folder / f"{example}.sfidl"),
        "--app", f"{example}_app", "-o", str(work / "gen"), "--port", "0",
        "--egress-port", "0", "--db", str(work / "local.sqlite"), "--no-stdout",
    ]  # fmt: skip
    env = {**env, "PYTHONPATH": str(folder), "SFIDL_CACHE_DIR": str(work / "cache")}
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
        lines.put("")  # it closed its standard error: it is exiting

    threading.Thread(target=drain, daemon=True).start()
    try:
        seen: list[str] = []
        ports: dict[str, str] = {}
        while len(ports) < 2:
            try:
                line = lines.get(timeout=DEADLINE_S)
            except queue.Empty:
                line = ""
            if not line:
                code = process.poll()
                state = f"exited with {code}" if code is not None else "silent, still running"
                raise SystemExit(f"{' '.join(command)}: not listening, {state}:\n{''.join(seen)}")
            seen.append(line)
            found = re.search(r"(ingress|egress) listening on (http://127\.0\.0\.1:\d+)", line)
            if found:
                ports[found.group(1)] = found.group(2)
        deadline = time.monotonic() + DEADLINE_S
        while not (answers(ports["egress"] + "/none") and answers(ports["ingress"] + "/")):
            assert time.monotonic() < deadline, "".join(seen)
        ready = time.perf_counter() - start
        cpu = cpu_seconds(process.pid)
        compiled = not any("up to date" in line for line in seen)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=DEADLINE_S)
    return ready, cpu, compiled


def interpreter(imports: str, env: dict[str, str]) -> tuple[float, float]:
    """Seconds from launching an interpreter that runs ``imports`` to its saying it is done
    (its exit is not waited for), and the CPU seconds it used by then."""
    # It stays alive, its CPU time to be read, until its standard input is closed.
    code = f"{imports}\nimport sys\nprint(flush=True)\nsys.stdin.read()"
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert process.stdout is not None and process.stdin is not None
    process.stdout.readline()
    done = time.perf_counter() - start
    cpu = cpu_seconds(process.pid)
    process.stdin.close()
    process.wait(timeout=DEADLINE_S)
    return done, cpu


def environment(tmp: str, bytecode: bool) -> dict[str, str]:
    """The environment of every process the run starts (see the module's docstring)."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")
    }
    if bytecode:
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp, "bytecode"))
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--examples", default="greeter,shop")
    parser.add_argument("--no-bytecode", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()
    rows: list[tuple[str, float, float, float, bool]] = []
    bare: list[tuple[float, float]] = []
    serving: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        env = environment(tmp, not args.no_bytecode)
        interpreter(SERVING, env)  # writes the bytecode of the imports, as the first starts do
        for example in args.examples.split(","):
            firsts: list[float] = []
            agains: list[tuple[float, float]] = []
            recompiled = False
            for i in range(args.repeat):
                work = Path(tmp, f"{example}{i}")
                work.mkdir()
                first, _, _ = start_to_ready(example, work, env)  # an empty output folder
                again, cpu, compiled = start_to_ready(example, work, env)  # nothing changed
                firsts.append(first)
                agains.append((again, cpu))
                recompiled = recompiled or compiled
                bare.append(interpreter("pass", env))
                serving.append(interpreter(SERVING, env))
            again = statistics.median(a for a, _ in agains)
            cpu = statistics.median(c for _, c in agains)
            rows.append((example, statistics.median(firsts), again, cpu, recompiled))
    floor, floor_cpu = (statistics.median(column) for column in zip(*serving))
    bytecode = "no bytecode written" if args.no_bytecode else "bytecode kept between starts"
    print(f"`sfidl run` start to ready (both ports answer), median of {args.repeat}, {bytecode}:\n")
    print(
        "| example | first start (compiles) | nothing changed | CPU | vs importing what serving needs |"
    )
    print("|---|---:|---:|---:|---:|")
    for example, first, again, cpu, recompiled in rows:
        note = " (recompiled!)" if recompiled else ""
        print(
            f"| {example} | {first:.2f} s | {again:.3f} s{note} | {cpu:.2f} s"
            f" | {again / floor:.2f}× (CPU {cpu / floor_cpu:.2f}×) |"
        )
    print(
        f"\nFor scale, to the moment each says it is done: `python -c pass`"
        f" {statistics.median(b for b, _ in bare):.3f} s; importing the StateFun SDK, aiohttp"
        f" and protobuf ({SERVING!r}) {floor:.3f} s, CPU {floor_cpu:.2f} s.\nLoad average"
        f" (1 min) before: {load_before[0]:.2f}, after: {os.getloadavg()[0]:.2f}."
    )


if __name__ == "__main__":
    main()
