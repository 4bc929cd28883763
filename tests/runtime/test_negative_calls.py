"""mypy --strict rejects wrong calls: one run over tests/negative_calls against the compiled stubs.

In each case file a line ending in ``# E: <fragment>`` must get an error containing the
fragment (message or ``[code]``); any other line must get none. tests/runtime/impls.py, the
implementations the runtime tests use, is checked in the same run and must be clean.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

CASES = Path(__file__).parent.parent / "negative_calls"
IMPLS = Path(__file__).with_name("impls.py")
REPO = Path(__file__).parent.parent.parent
MARK = re.compile(r"#\s*E:\s*(.+?)\s*$")
ERROR = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): error: (?P<text>.*)$")


def expected_errors() -> dict[tuple[str, int], str]:
    marks = {}
    for path in sorted(CASES.glob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            found = MARK.search(line)
            if found:
                marks[(path.name, number)] = found.group(1)
    return marks


def test_mypy_rejects_exactly_the_marked_lines(calls_out: Path, tmp_path: Path) -> None:
    files = sorted(CASES.glob("*.py"))
    assert len(files) >= 6
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            str(REPO / "pyproject.toml"),
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
            "--no-error-summary",
            "--show-error-codes",
            *map(str, files),
            str(IMPLS),
        ],
        cwd=REPO,
        env={**os.environ, "MYPYPATH": str(calls_out)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode in (0, 1), run.stderr + run.stdout
    errors: dict[tuple[str, int], list[str]] = {}
    for line in run.stdout.splitlines():
        found = ERROR.match(line)
        if found:
            key = (Path(found["file"]).name, int(found["line"]))
            errors.setdefault(key, []).append(found["text"])
    expected = expected_errors()
    assert len(expected) >= 15

    missing = {
        where: fragment
        for where, fragment in expected.items()
        if not any(fragment in text for text in errors.get(where, []))
    }
    unexpected = {where: texts for where, texts in errors.items() if where not in expected}
    assert not missing, f"marked lines without the expected error: {missing}\n{run.stdout}"
    assert not unexpected, f"errors on unmarked lines: {unexpected}"
