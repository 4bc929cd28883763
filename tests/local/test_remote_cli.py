"""`sfidl run --remote`: a function server that is down is retried, then a clear failure and exit 1
(no hang); one that is up (``app.serve()``) takes batches of any size the runtime sends."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from google.protobuf.wrappers_pb2 import StringValue
from statefun.types_pb2 import IntWrapper

from sfidl.local.records import Address
from sfidl.local.store import Incoming, Store
from sfidl.runtime.types import typed_value

ROOT = Path(__file__).resolve().parents[2]


def test_remote_run_with_the_function_server_down_fails_clearly(tmp_path: Path) -> None:
    folder = ROOT / "examples" / "greeter"
    records = tmp_path / "in.jsonl"
    records.write_text(
        json.dumps({"ingress": "names", "key": "ada", "value": {"name": "Ada"}}) + "\n"
    )
    command = [
        sys.executable, "-m", "sfidl", "run", str(folder / "greeter.sfidl"),
        "--app", "greeter_app", "-o", str(tmp_path / "gen"), "--port", "0", "--egress-port", "0",
        "--db", str(tmp_path / "local.sqlite"), "--ingress-file", str(records), "--stop-when-idle",
        "--remote", "--endpoint", "http://127.0.0.1:9/statefun", "--call-timeout", "5",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(folder)}
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "sfidl run: function com.example.greeter/greeter/ada (batch of 1 message(s):"
        " type.googleapis.com/com.example.greeter.Greet from ingress): failure forwarding a message"
        " to a remote function after 5 attempts: POST http://127.0.0.1:9/statefun failed"
    ), done.stderr
    assert "attempt 1 failed" in done.stderr and "Traceback" not in done.stderr
    # Nothing was lost: the message is still queued for the next run.
    db = sqlite3.connect(tmp_path / "local.sqlite")
    assert db.execute("SELECT COUNT(*) FROM inbox").fetchone() == (1,)
    db.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def function_server(folder: Path, port: int) -> Iterator[None]:
    """The example's ``app.serve(port=...)`` (its defaults otherwise) in a process of its own."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), str(folder / "gen")])}
    script = f"from greeter_app import app; app.serve(port={port})"
    server = subprocess.Popen(
        [sys.executable, "-c", script], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, server.communicate()[1]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the function server did not start"
                time.sleep(0.05)
        yield
    finally:
        server.terminate()
        server.communicate(timeout=30)


def test_remote_run_delivers_a_backlog_of_thousands_of_messages_over_1_mib_per_batch(
    tmp_path: Path,
) -> None:
    """Batches of 1,000 queued messages with their state, each batch over aiohttp's 1 MiB."""
    folder = ROOT / "examples" / "greeter"
    db, backlog, name = tmp_path / "local.sqlite", 2500, "ada" + "x" * 1500
    greet = typed_value(
        "type.googleapis.com/com.example.greeter.Greet",
        StringValue(value=name).SerializeToString(),  # Greet's wire format: string field 1
    ).SerializeToString()
    store = Store(db)
    ada = Address.of("com.example.greeter/greeter", "ada")
    store.enqueue([Incoming(ada, None, greet)] * backlog)
    store.close()
    port = free_port()
    with function_server(folder, port):
        command = [
            sys.executable, "-m", "sfidl", "run", str(folder / "greeter.sfidl"),
            "--app", "greeter_app", "-o", str(tmp_path / "gen"), "--port", "0",
            "--egress-port", "0", "--db", str(db), "--stop-when-idle", "--no-stdout",
            "--remote", "--endpoint", f"http://127.0.0.1:{port}/statefun",
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(folder)}
        done = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
    assert done.returncode == 0, done.stderr
    connection = sqlite3.connect(db)
    try:
        assert connection.execute("SELECT COUNT(*) FROM inbox").fetchone() == (0,)
        [(seen,)] = connection.execute(
            "SELECT value FROM state WHERE fn = ? AND id = 'ada' AND name = 'seen'",
            ("com.example.greeter/greeter",),
        )
        [(records,)] = connection.execute("SELECT COUNT(*) FROM egress")
    finally:
        connection.close()
    assert IntWrapper.FromString(seen).value == backlog
    assert records == backlog


def outside_address() -> str | None:
    """This machine's address on its default route, if it has one besides loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("198.51.100.1", 9))  # no packet is sent: this only picks a route
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


def test_serve_binds_loopback_by_default(tmp_path: Path) -> None:
    outside = outside_address()
    if outside is None:
        pytest.skip("this machine has no address besides loopback")
    port = free_port()
    with function_server(ROOT / "examples" / "greeter", port):  # reached on 127.0.0.1
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((outside, port), timeout=10).close()
