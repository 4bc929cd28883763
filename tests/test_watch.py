"""`sfidl compile --watch` and `sfidl run --reload`: real processes, real edits, bounded waits."""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GREETER = ROOT / "examples" / "greeter"
DEADLINE_S = 30.0


class Process:
    """A running sfidl command whose standard error is read line by line without blocking."""

    def __init__(self, command: list[str], cwd: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "sfidl", *command],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.seen: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        stderr = self.popen.stderr
        assert stderr is not None

        def drain() -> None:
            for line in stderr:
                self._lines.put(line)

        threading.Thread(target=drain, daemon=True).start()

    def expect(self, pattern: str) -> re.Match[str]:
        """Wait for a line of standard error matching ``pattern`` (lines before it are kept)."""
        deadline = time.monotonic() + DEADLINE_S
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {pattern!r} in:\n{''.join(self.seen)}") from None
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found

    def stop(self) -> int:
        """SIGTERM, then the exit code (killed if it does not stop in time)."""
        self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=DEADLINE_S)
        finally:
            self.popen.kill()


@contextmanager
def running(command: list[str], cwd: Path) -> Iterator[Process]:
    process = Process(command, cwd)
    try:
        yield process
    finally:
        if process.popen.poll() is None:
            assert process.stop() == 0, "".join(process.seen)


def edit(path: Path, change: Callable[[str], str]) -> None:
    text = path.read_text()
    changed = change(text)
    assert changed != text
    path.write_text(changed)


def test_compile_watch_rewrites_reports_and_recovers(tmp_path: Path) -> None:
    source = tmp_path / "greeter.sfidl"
    shutil.copy(GREETER / "greeter.sfidl", source)
    proto = tmp_path / "gen" / "greeter.proto"
    with running(["compile", "--watch", "greeter.sfidl", "-o", "gen"], tmp_path) as watch:
        watch.expect(r"wrote 6 files to gen")
        watch.expect(r"watching 1 file")
        assert "mood" not in proto.read_text()
        # A burst of writes (a field added in three saves) gives one compile of the last.
        for field in ("string mood = 4;", "string mood = 4; int32 age = 5;"):
            edit(source, lambda t: re.sub(r"int32 seen = 3;.*", f"int32 seen = 3; {field}", t))
        watch.expect(r"wrote 6 files to gen")
        assert "string mood = 4;" in proto.read_text() and "int32 age = 5;" in proto.read_text()
        watch.expect(r"watching 1 file")
        assert sum("wrote" in line for line in watch.seen) == 2
        good = proto.read_bytes()

        edit(source, lambda t: t.replace("string mood", "strin mood"))
        watch.expect(r"error\[unknown-type\]: unknown type `strin`")
        watch.expect(r"watching 1 file")
        assert watch.popen.poll() is None  # still running
        assert proto.read_bytes() == good  # the last good outputs stay

        edit(source, lambda t: t.replace("strin mood", "string feeling"))
        watch.expect(r"wrote 6 files to gen")
        assert "string feeling = 4;" in proto.read_text()
        assert watch.stop() == 0
    assert "stopped watching" in watch.expect(r"stopped").string


def test_compile_watch_follows_imports(tmp_path: Path) -> None:
    (tmp_path / "common.sfidl").write_text(
        "namespace com.example.common;\nmessage Id { string v = 1; }\n"
    )
    (tmp_path / "main.sfidl").write_text(
        'namespace com.example.main;\nimport "common.sfidl";\n'
        "message Box { com.example.common.Id id = 1; }\n"
    )
    with running(["compile", "--watch", "main.sfidl", "-o", "gen"], tmp_path) as watch:
        watch.expect(r"watching 2 file")
        edit(
            tmp_path / "common.sfidl",
            lambda t: t.replace("string v = 1;", "string v = 1; int64 n = 2;"),
        )
        watch.expect(r"wrote \d+ files to gen")
        assert "int64 n = 2;" in (tmp_path / "gen" / "common.proto").read_text()


def post_greet(base: str, name: str) -> None:
    request = urllib.request.Request(
        f"{base}/com.example.greeter/greeter/{name}",
        data=json.dumps({"name": name}).encode(),
        headers={
            "Content-Type": "application/vnd.type.googleapis.com/com.example.greeter.Greet+json"
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=DEADLINE_S) as response:
        assert response.status == 200


def pop_greeting(egress: str) -> dict[str, object]:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            with urllib.request.urlopen(f"{egress}/greetings", timeout=DEADLINE_S) as response:
                if response.headers["Status"] == "200":
                    record: dict[str, object] = json.loads(response.read())
                    return record
        except urllib.error.URLError:
            pass  # refused while the runtime restarts
        assert time.monotonic() < deadline, "no greeting"
        time.sleep(0.05)


def test_run_reload_keeps_state_across_an_edit_of_the_app(tmp_path: Path) -> None:
    for name in ("greeter.sfidl", "greeter_app.py"):
        shutil.copy(GREETER / name, tmp_path / name)
    app = tmp_path / "greeter_app.py"
    command = [
        "run", "greeter.sfidl", "--app", "greeter_app", "--reload", "--no-stdout",
        "--port", "0", "--egress-port", "0", "--db", "local.sqlite",
    ]  # fmt: skip
    with running(command, tmp_path) as run:
        base = run.expect(r"ingress listening on (http://127\.0\.0\.1:\d+)").group(1)
        egress = run.expect(r"egress listening on (http://127\.0\.0\.1:\d+)").group(1)
        run.expect(r"watching 2 file")  # greeter.sfidl and greeter_app.py
        post_greet(base, "ada")
        assert pop_greeting(egress) == {"name": "ada", "text": "Hello ada!", "seen": 1}

        edit(app, lambda t: t.replace("Welcome back", "Good to see you again"))
        run.expect(r"restarting the functions")
        run.expect(r"ingress listening on " + re.escape(base))  # the same port
        post_greet(base, "ada")
        assert pop_greeting(egress) == {
            "name": "ada",
            "text": "Good to see you again ada, visit 2.",
            "seen": 2,  # the state is kept
        }

        # A bad compile is reported and the running functions keep serving.
        edit(tmp_path / "greeter.sfidl", lambda t: t.replace("int32 seen = 3;", "int33 seen = 3;"))
        run.expect(r"error\[unknown-type\]: unknown type `int33`")
        run.expect(r"keeping the running functions")
        post_greet(base, "ada")
        assert pop_greeting(egress)["seen"] == 3

        # So is an app module that fails to import.
        edit(app, lambda t: t.replace("app = GreeterApp(", "app = GreeterApp(nobody=1, "))
        edit(tmp_path / "greeter.sfidl", lambda t: t.replace("int33", "int32"))
        run.expect(r"calling|importing greeter_app failed|no attribute|failed")
        run.expect(r"keeping the running functions")
        edit(app, lambda t: t.replace("nobody=1, ", "").replace("visit", "call"))
        run.expect(r"restarting the functions")
        run.expect(r"ingress listening on " + re.escape(base))
        post_greet(base, "ada")
        assert pop_greeting(egress)["text"] == "Good to see you again ada, call 4."

        # New message definitions need a new process: it starts on the same ports and database.
        edit(app, lambda t: t.replace("text=text,", 'text=text, mood="sunny",'))
        edit(
            tmp_path / "greeter.sfidl",
            lambda t: t.replace("int32 seen = 3;", "int32 seen = 3; string mood = 4;"),
        )
        run.expect(r"the generated messages changed: starting sfidl run again")
        run.expect(r"ingress listening on " + re.escape(base))
        run.expect(r"egress listening on " + re.escape(egress))
        post_greet(base, "ada")
        assert pop_greeting(egress) == {
            "name": "ada",
            "text": "Good to see you again ada, call 5.",
            "seen": 5,
            "mood": "sunny",
        }


def test_run_reload_refuses_stop_when_idle(tmp_path: Path) -> None:
    shutil.copy(GREETER / "greeter.sfidl", tmp_path / "greeter.sfidl")
    command = ["run", "greeter.sfidl", "--app", "greeter_app", "--reload", "--stop-when-idle"]
    process = Process(command, tmp_path)
    assert process.popen.wait(timeout=DEADLINE_S) == 2
    process.expect(r"--reload keeps running until stopped: leave out --stop-when-idle")


def test_run_reload_waits_for_a_first_good_compile(tmp_path: Path) -> None:
    for name in ("greeter.sfidl", "greeter_app.py"):
        shutil.copy(GREETER / name, tmp_path / name)
    source = tmp_path / "greeter.sfidl"
    edit(source, lambda t: t.replace("int32 seen = 3;", "int33 seen = 3;"))
    command = [
        "run", "greeter.sfidl", "--app", "greeter_app", "--reload", "--no-stdout",
        "--port", "0", "--egress-port", "0", "--db", "local.sqlite",
    ]  # fmt: skip
    with running(command, tmp_path) as run:
        run.expect(r"error\[unknown-type\]: unknown type `int33`")
        run.expect(r"watching 1 file\(s\) for a fix")
        edit(source, lambda t: t.replace("int33", "int32"))
        base = run.expect(r"ingress listening on (http://127\.0\.0\.1:\d+)").group(1)
        egress = run.expect(r"egress listening on (http://127\.0\.0\.1:\d+)").group(1)
        post_greet(base, "bo")
        assert pop_greeting(egress)["text"] == "Hello bo!"
