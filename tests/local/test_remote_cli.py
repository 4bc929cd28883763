"""`sfidl run --remote` whose function server is down: retries, then a clear failure and exit 1 (no hang)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

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
