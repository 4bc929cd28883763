"""What `sfidl breaking` says against what the local runtime does on a redeploy.

The greeter runs as version 1, stops, and each next version runs on the same database,
the way a deploy keeps a cluster's state: a change the check passes keeps the state; the
state type change it flags fails the invocation before anything is applied, as it says
StateFun does; the rename it flags silently starts the count again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
GREETER = ROOT / "examples" / "greeter"
DEADLINE_S = 120


def _version(tmp_path: Path, name: str, old: str, new: str) -> Path:
    text = (GREETER / "greeter.sfidl").read_text()
    assert old in text
    folder = tmp_path / name
    folder.mkdir()
    (folder / "greeter.sfidl").write_text(text.replace(old, new))
    return folder / "greeter.sfidl"


def _breaking(new: Path, old: Path) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "sfidl", "breaking", str(new), "--against", str(old)],
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
    )
    return done.returncode, done.stdout


def _run(tmp_path: Path, version: Path, visitor: str) -> tuple[int, dict[str, int], str]:
    """Greet ``visitor`` once with ``version`` on the shared database.

    Returns the exit status, the count greeted to each visitor so far (the database's
    egress records), and the log.
    """
    name = version.parent.name
    records = tmp_path / f"{name}.jsonl"
    records.write_text(
        json.dumps({"ingress": "names", "key": "ada", "value": {"name": visitor}}) + "\n"
    )
    command = [
        sys.executable, "-m", "sfidl", "run", str(version), "--app", "greeter_app",
        "-o", str(tmp_path / f"gen_{name}"), "--db", str(tmp_path / "local.sqlite"),
        "--port", "0", "--egress-port", "0", "--ingress-file", str(records),
        "--egress-dir", str(tmp_path / f"out_{name}"), "--stop-when-idle",
        "--idle-horizon", "1min", "--no-stdout",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "app")}
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=DEADLINE_S
    )
    out = tmp_path / f"out_{name}" / "greetings.jsonl"
    written = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    seen = {r["value"]["name"]: r["value"]["seen"] for r in written}
    return done.returncode, seen, done.stderr


def test_a_redeploy_on_the_same_database_does_what_the_check_said(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    shutil.copy(GREETER / "greeter_app.py", tmp_path / "app")
    v1 = _version(tmp_path, "v1", "", "")
    assert _run(tmp_path, v1, "v1")[:2] == (0, {"v1": 1})

    # A field added to the egress message: safe, and the count goes on.
    v2 = _version(tmp_path, "v2", "  int32 seen = 3;\n", "  int32 seen = 3;\n  string lang = 4;\n")
    assert _breaking(v2, v1) == (0, "sfidl breaking: no breaking changes\n")
    assert _run(tmp_path, v2, "v2")[:2] == (0, {"v1": 1, "v2": 2})

    # The state's type: flagged, and the runtime refuses the batch, applying nothing.
    v3 = _version(tmp_path, "v3", "state seen: int32 = 0;", "state seen: int64 = 0;")
    code, report = _breaking(v3, v2)
    assert code == 1 and "[STATE_TYPE]" in report
    code, seen, stderr = _run(tmp_path, v3, "v3")
    assert (code, seen) == (1, {"v1": 1, "v2": 2})
    assert "state 'seen' is registered with type 'io.statefun.types/int'" in stderr

    # The state renamed: flagged, and the count silently starts again (from v3's greeting,
    # which stayed queued when its batch failed).
    v4 = _version(tmp_path, "v4", "state seen: int32 = 0;", "state visits: int32 = 0;")
    code, report = _breaking(v4, v2)
    assert code == 1 and "[STATE_RENAME]" in report
    app = (tmp_path / "app" / "greeter_app.py").read_text()
    (tmp_path / "app" / "greeter_app.py").write_text(app.replace("state.seen", "state.visits"))
    assert _run(tmp_path, v4, "v4")[:2] == (0, {"v1": 1, "v2": 2, "v3": 1, "v4": 2})
