"""Exactly-once on one machine: ``sfidl run`` killed with SIGKILL at random points and restarted
ends with the same state and egress output as a run that was never killed."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from statefun.types_pb2 import StringWrapper

ROOT = Path(__file__).resolve().parents[2]
N = 2000
KEYS = 13


def ingress_lines() -> list[str]:
    """Kafka-ingress records to the counter, relayed ones (function to function) and timers (delayed messages).

    Each counter has one sender (the ingress or the relay), so its records come in one order in every run.
    """
    lines = []
    for i in range(N):
        if i % 10 == 0:
            record = {
                "target": "demo/relay/r",
                "typename": "type.googleapis.com/sfidl.demo.Increment",
                "value": {"by": 1, "note": f"r{i % KEYS}"},
            }
        elif i % 50 == 1:
            record = {
                "target": "demo/timers/t",
                "typename": "type.googleapis.com/sfidl.demo.Timer",
                "value": {"label": f"t{i}", "delay_ms": 20, "token": f"tok{i}"},
            }
        else:
            record = {"ingress": "increments", "key": f"k{i % KEYS}", "value": {"by": i % 5 + 1}}
        lines.append(json.dumps(record) + "\n")
    return lines


def start(folder: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "tests.local.run_demo",
        str(folder / "db.sqlite"),
        str(folder / "in.jsonl"),
        str(folder / "out"),
    ]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish(process: subprocess.Popen[bytes]) -> None:
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr.decode()


def egress_lines(folder: Path) -> list[dict[str, object]]:
    path = folder / "out" / "counts.jsonl"
    if not path.exists():
        return []
    text = path.read_text()
    return [
        json.loads(line) for line in text[: text.rfind("\n") + 1].splitlines()
    ]  # a line being written is left out


def order_free(fn: str, name: str, value: bytes) -> object:
    """The ";"-joined logs of the audit's callers and the timers' firings, sorted: messages from
    different senders (and timers due together) may interleave differently from run to run."""
    if (fn, name) in {("demo/audit", "callers"), ("demo/timers", "fired")}:
        return sorted(StringWrapper.FromString(value).value.split(";")[:-1])
    return value


def records_written(folder: Path) -> int:
    path = folder / "out" / "counts.jsonl"
    return path.read_bytes().count(b"\n") if path.exists() else 0


def outcome(folder: Path) -> tuple[object, ...]:
    """State, egress rows and egress file content, each per address or key (cross-key order may differ)."""
    db = sqlite3.connect(folder / "db.sqlite")
    state = sorted(
        (fn, id, name, typename, order_free(fn, name, bytes(value)))
        for fn, id, name, typename, value in db.execute(
            "SELECT fn, id, name, typename, value FROM state"
        )
    )
    rows: dict[str, list[bytes]] = defaultdict(list)
    for key, value in db.execute("SELECT key, value FROM egress ORDER BY seq"):
        rows[key].append(bytes(value))
    leftovers = db.execute(
        "SELECT (SELECT COUNT(*) FROM inbox), (SELECT COUNT(*) FROM delayed)"
    ).fetchone()
    db.close()
    lines = egress_lines(folder)
    seqs = [line["seq"] for line in lines]
    assert seqs == sorted(set(seqs)), "the egress file repeats or reorders a record"
    per_key: dict[object, list[object]] = defaultdict(list)
    for line in lines:
        per_key[line["key"]].append(line["value"])
    return state, dict(rows), dict(per_key), leftovers


def test_sigkill_at_random_points_loses_and_duplicates_nothing(tmp_path):
    lines = ingress_lines()
    reference, crashed = tmp_path / "reference", tmp_path / "crashed"
    for folder in (reference, crashed):
        folder.mkdir()
        (folder / "in.jsonl").write_text("".join(lines))

    finish(start(reference))
    expected = outcome(reference)
    total_records = sum(len(v) for v in expected[1].values())

    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    kills = 0
    for threshold in sorted(rng.sample(range(1, total_records), 5)):
        process = start(crashed)
        deadline = time.monotonic() + 20
        while (
            process.poll() is None
            and records_written(crashed) < threshold
            and time.monotonic() < deadline
        ):
            time.sleep(rng.uniform(0.001, 0.01))
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            kills += 1
        process.communicate(timeout=10)
    finish(start(crashed))

    assert kills >= 3, f"seed {seed}: the runs finished before they could be killed"
    got = outcome(crashed)
    assert got == expected, f"seed {seed}"
    state, rows, per_key, leftovers = got
    assert leftovers == (0, 0)
    # Each counter invocation wrote one record with the running total: none missing, none repeated.
    assert total_records == N - N // 50  # every line but the timers reaches the counter once
    for key, values in per_key.items():
        totals = [int(v["total"]) for v in values]  # type: ignore[index]
        assert totals == sorted(set(totals)), key
    fired = {(fn, id, name): value for fn, id, name, _, value in state}[
        ("demo/timers", "t", "fired")
    ]
    assert fired == sorted(f"t{i}" for i in range(1, N, 50))
