"""mypy --strict accepts tests/runtime/impls.py, the implementations the runtime tests use,
against the stubs compiled from calls.sfidl. (Wrong uses of those stubs are the case
tests/cases/calls, whose input is the same calls.sfidl.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

IMPLS = Path(__file__).with_name("impls.py")
REPO = Path(__file__).parent.parent.parent


def test_the_implementations_type_check(calls_out: Path, tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file", str(REPO / "pyproject.toml")]
        + ["--cache-dir", str(tmp_path / "mypy-cache"), "--show-error-codes", str(IMPLS)],
        cwd=REPO,
        env={**os.environ, "MYPYPATH": str(calls_out)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no issues found in 1 source file" in run.stdout, run.stdout
