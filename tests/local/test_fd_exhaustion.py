"""Out of file descriptors: idle connections are closed, clients are served again, no tracebacks."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 30.0
LIMIT = 96  # open files for the whole runtime process: far fewer than the idle clients


def test_idle_connections_beyond_the_file_limit_time_out_and_service_resumes(tmp_path: Path):
    script = (
        f"import resource; resource.setrlimit(resource.RLIMIT_NOFILE, ({LIMIT}, {LIMIT}));"
        "from pathlib import Path; from sfidl.local.run import RunOptions, run;"
        " from tests.local.apps import demo_app;"
        f"run(demo_app(), RunOptions(db=Path({str(tmp_path / 'db.sqlite')!r}), port=0,"
        " egress_port=0, egress_stdout=False, idle_timeout_s=1.0))"
    )

    err = tmp_path / "stderr.txt"
    with err.open("w") as stderr:  # a file, not a pipe: no unread pipe can block the process
        process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stderr=stderr)
    idle: list[socket.socket] = []
    try:
        deadline = time.monotonic() + DEADLINE_S
        while not (
            found := re.search(r"egress listening on http://127\.0\.0\.1:(\d+)", err.read_text())
        ):
            assert process.poll() is None and time.monotonic() < deadline, err.read_text()
            time.sleep(0.05)
        port = int(found.group(1))
        for _ in range(2 * LIMIT):  # more than the process can accept: it runs out of files
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S))
        deadline = time.monotonic() + DEADLINE_S
        while True:  # served again once the idle ones are closed
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/counts", timeout=2) as r:
                    assert r.headers["Status"] == "404"  # nothing written yet
                    break
            except OSError:
                assert time.monotonic() < deadline, "never served again"
    finally:
        for connection in idle:
            connection.close()
        process.terminate()
        process.wait(timeout=DEADLINE_S)
    text = err.read_text()
    assert process.returncode == 0, text
    assert "Traceback" not in text
    assert text.count("Too many open files") == 1, text  # one line a minute, not thousands
