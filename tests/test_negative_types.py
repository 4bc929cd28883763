"""The generated stubs turn misuse of the IDL into type errors (after mypy-protobuf's test_negative).

Each ``tests/negative/<case>.py`` is written against the shop example's committed stubs
(``examples/shop/gen``). A line that must fail carries ``# E: <fragment of mypy's message>``
(several marks when mypy reports several errors there); every other line must type-check.
``positive.py`` uses everything the right way and has no marks. mypy runs once over all cases.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CASES = REPO / "tests" / "negative"
SHOP_GEN = REPO / "examples" / "shop" / "gen"
MARK = re.compile(r"#\s*E:\s*")
ERROR = re.compile(r"(?P<file>[\w.]+\.py):(?P<line>\d+): error: (?P<message>.*)")
NOTE = re.compile(r"[\w.]+\.py:\d+: note: ")

Location = tuple[str, int]


def case_files() -> list[Path]:
    return sorted(CASES.glob("*.py"))


def expected_errors() -> dict[Location, list[str]]:
    """The fragments marked on each line of the cases."""
    expected: dict[Location, list[str]] = {}
    for path in case_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            parts = MARK.split(line)
            if len(parts) > 1:
                expected[(path.name, number)] = [part.strip() for part in parts[1:]]
    return expected


@pytest.fixture(scope="module")
def mypy_errors() -> dict[Location, list[str]]:
    """mypy --strict over every case at once: its error messages by file and line."""
    with tempfile.TemporaryDirectory() as cache:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "mypy",
                "--strict",
                "--config-file",
                str(REPO / "pyproject.toml"),
            ]
            + ["--cache-dir", cache, "--no-error-summary", "--no-pretty", "--hide-error-context"]
            + [path.name for path in case_files()],
            cwd=CASES,
            env={**os.environ, "MYPYPATH": str(SHOP_GEN)},
            capture_output=True,
            text=True,
        )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    errors: dict[Location, list[str]] = defaultdict(list)
    for line in result.stdout.splitlines():
        if NOTE.match(line):
            continue
        match = ERROR.fullmatch(line)
        # Anything else (an error in the stubs themselves, a crash) fails the whole suite.
        assert match, f"unexpected mypy output: {line}\n{result.stdout}{result.stderr}"
        errors[(match["file"], int(match["line"]))].append(match["message"])
    return dict(errors)


def test_every_case_marks_errors_and_the_positive_file_none() -> None:
    marked_files = {file for file, _ in expected_errors()}
    names = {path.name for path in case_files()}
    assert "positive.py" in names
    assert marked_files == names - {"positive.py"}


@pytest.mark.parametrize(
    "location", sorted(expected_errors()), ids=lambda loc: f"{loc[0]}:{loc[1]}"
)
def test_marked_line_has_the_expected_errors(
    location: Location, mypy_errors: dict[Location, list[str]]
) -> None:
    messages = mypy_errors.get(location, [])
    for fragment in expected_errors()[location]:
        assert any(fragment in message for message in messages), (
            f"{location[0]}:{location[1]}: expected an error containing {fragment!r}, "
            f"mypy said {messages}"
        )


def test_no_error_outside_the_marks(mypy_errors: dict[Location, list[str]]) -> None:
    expected = expected_errors()
    unexpected = [
        f"{file}:{line}: {message}"
        for (file, line), messages in sorted(mypy_errors.items())
        for message in messages
        if not any(fragment in message for fragment in expected.get((file, line), []))
    ]
    assert not unexpected, "\n".join(unexpected)
